// create_validator: the sender becomes the operator of a new validator: it names the node's
// consensus public key, a moniker and a self-bond, and proves with a signature by the consensus
// key (over the chain id and the operator's address, domain-separated) that the key's holder
// means to validate for it. Its power (self-bond / power_reduction) signs from two blocks after
// the block that carries it. Room for delegation later: new fields go in trailing elements.
import { asAmount, asArr, asBin, asStr } from '../fields.ts'
import { ev } from '../events.ts'
import { TxError } from '../errors.ts'
import { addressBytesFromPubkey, toHexUpper, verifySignature } from '../crypto.ts'
import { newValidatorBond } from '../state.ts'
import { isValidConsensusKey, possessionMessage, validatorOfOperator } from '../validatorSet.ts'
import { byteLen, checkPositive, needFunds, aitbc, type TxTypeDef } from './txType.ts'

export interface CreateValidatorBody { type: 'create_validator', pubKey: Uint8Array, moniker: string, stake: bigint, possession: Uint8Array }

export const MAX_MONIKER_BYTES = 64

export const createValidator: TxTypeDef<'create_validator', CreateValidatorBody> = {
  type: 'create_validator',
  description: 'makes the sender the operator of a new validator with a consensus key (proven by its signature), a moniker and a self-bond',
  signer: 'the operator',
  decode (v) {
    const b = asArr(v, 4, 'body')
    return { type: 'create_validator', pubKey: asBin(b[0], 32, 'pub_key'), moniker: asStr(b[1], 'moniker'), stake: asAmount(b[2], 'stake'), possession: asBin(b[3], 64, 'possession') }
  },
  encode: b => [b.pubKey, b.moniker, b.stake, b.possession],
  summary: b => `validator ${b.moniker === '' ? toHexUpper(addressBytesFromPubkey(b.pubKey)) : b.moniker}, self-bond ${aitbc(b.stake)}`,
  checkStatic (b) {
    if (!isValidConsensusKey(b.pubKey)) throw new TxError('INVALID_PUBKEY', 'pub_key is not a valid ed25519 public key (a canonical point of large order)')
    if (byteLen(b.moniker) > MAX_MONIKER_BYTES || /[\u0000-\u001f\u007f]/.test(b.moniker)) throw new TxError('INVALID_FIELD', `moniker must be at most ${MAX_MONIKER_BYTES} bytes without control characters`)
    checkPositive(b.stake, 'stake')
  },
  apply ({ st, tx, body: b, spendable, ctx, events }) {
    const address = toHexUpper(addressBytesFromPubkey(b.pubKey))
    const mine = validatorOfOperator(st, tx.sender)
    if (mine !== undefined) throw new TxError('VALIDATOR_EXISTS', `${tx.sender} already operates validator ${mine.address} (use validator_stake to bond more)`)
    const holder = st.validatorBond(address)
    if (holder !== undefined) throw new TxError('KEY_IN_USE', `consensus key ${address} is already the key of a validator operated by ${holder.operator}`)
    if (!verifySignature(b.pubKey, possessionMessage(ctx.chainId, tx.sender, b.pubKey), b.possession)) {
      throw new TxError('BAD_POSSESSION_PROOF', `the proof of possession is not a signature by consensus key ${address} for operator ${tx.sender} on chain ${ctx.chainId}`)
    }
    if (b.stake < st.params.minValidatorStake) throw new TxError('STAKE_TOO_LOW', `self-bond ${b.stake} uaitbc is below min_validator_stake ${st.params.minValidatorStake} uaitbc`)
    if (b.stake < st.params.powerReduction) throw new TxError('STAKE_TOO_LOW', `self-bond ${b.stake} uaitbc is below power_reduction ${st.params.powerReduction} uaitbc: it would have no voting power`)
    needFunds(spendable + tx.fee, b.stake + tx.fee, `a self-bond of ${b.stake} uaitbc plus the fee`)
    events.push(ev('create_validator', { validator: address, operator: tx.sender, moniker: b.moniker, stake: b.stake, power_height: ctx.height + 2 }))
    return {
      delta: -b.stake,
      apply: () => {
        st.setValidatorBond(newValidatorBond({ address, pubKey: new Uint8Array(b.pubKey), operator: tx.sender, moniker: b.moniker, stake: b.stake, createdHeight: ctx.height }))
        st.addTotal('bonded', b.stake)
      },
    }
  },
}
