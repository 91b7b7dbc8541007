// The golden vectors of test/fixtures/golden.json, recomputed from their inputs with the node's
// code and compared byte for byte: the miner draw, vote and proposal sign bytes and signatures,
// duplicate-vote evidence, and the headers, commits, app hashes and results hashes of blocks
// built by the block executor. The file must also be exactly what scripts/gen-vectors.ts writes,
// so that nobody edits one without the other (regenerate with `npm run vectors`).
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { SigningKey, sha256, sha256Concat, toHex, toHexUpper, utf8Bytes, verifySignature, addressBytesFromPubkey } from '../../node/core/crypto.ts'
import { pack } from '../../node/core/codec.ts'
import { MemState, type Miner } from '../../node/core/state.ts'
import { drawMiner, isEligible } from '../../node/core/draw.ts'
import { drawWeight } from '../../node/core/verification.ts'
import { checkEvidence } from '../../node/core/transition.ts'
import { resultsHash } from '../../node/core/executor.ts'
import { decodeTx } from '../../node/core/tx.ts'
import {
  blockHash, commitHash, commitTuple, headerTuple, proposalSignBytes, verifyCommit, voteSignBytes, type Block, type Commit, type Header, type Validator,
} from '../../node/core/block.ts'
import { parseGenesis, parseParams } from '../../genesis/genesis.ts'
import { encodeDuplicateVote } from '../../node/consensus/evidence.ts'
import type { SignedVote } from '../../node/consensus/messages.ts'
import { GOLDEN_PATH, renderVectors, minerFromInput, pendingJob, evidenceState, type DrawMinerInput } from '../../scripts/gen-vectors.ts'
import { MemChain, signCommit } from '../helpers/memChain.ts'

const FILE_TEXT = readFileSync(GOLDEN_PATH, 'utf8')
const G = JSON.parse(FILE_TEXT)
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const keyOfSeed = (seedHex: string): SigningKey => new SigningKey(hex(seedHex))

describe('golden vectors', () => {
  it('test/fixtures/golden.json is exactly what scripts/gen-vectors.ts writes', () => {
    // Compared as text: a hand edit of the file or a change of the script without regenerating fails here.
    expect(renderVectors() === FILE_TEXT, 'golden.json differs from the output of scripts/gen-vectors.ts: run `npm run vectors` and review the diff').to.equal(true)
  })

  describe('the miner draw', () => {
    for (const set of G.draw) {
      it(set.name, () => {
        const st = new MemState(parseParams({ min_miner_stake: set.min_miner_stake, verification_rate: set.verification_rate }))
        st.apply({
          accounts: new Map(), jobs: new Map(), bonds: new Map(), totals: { supply: 0n, balances: 0n, escrow: 0n, bonded: 0n, unbonding: 0n, burned: 0n },
          miners: new Map(set.miners.map((m: DrawMinerInput) => [m.address, minerFromInput(m)])),
        })
        expect(set.cases.length).to.be.at.least(1)
        for (const c of set.cases) {
          const what = `job ${c.job.id} (${c.job.model}, cap ${c.job.max_price_per_second}) after "${c.randomness}"`
          const job = pendingJob(c.job.id, c.job.model, c.job.max_price_per_second === null ? null : BigInt(c.job.max_price_per_second))
          const prev = hex(c.randomness)
          expect(toHex(sha256Concat(prev, utf8Bytes(c.job.id))), `seed of ${what}`).to.equal(c.seed)
          const eligible = st.minerAddresses().map(a => st.miner(a) as Miner).filter(m => isEligible(st, m, job))
          expect(eligible.reduce((t, m) => t + drawWeight(m), 0n).toString(), `total weight of ${what}`).to.equal(c.total_weight)
          expect(drawMiner(st, job, prev)?.address ?? null, `chosen for ${what}`).to.equal(c.chosen)
        }
      })
    }

    it('the vectors exercise what they say: ties pick several miners, "none" picks nobody, "one" always the same', () => {
      const byName = (prefix: string): any => G.draw.find((s: any) => s.name.startsWith(prefix))
      expect(new Set(byName('ties').cases.map((c: any) => c.chosen)).size).to.equal(3)
      expect(byName('none eligible').cases.every((c: any) => c.chosen === null)).to.equal(true)
      expect(new Set(byName('one eligible').cases.map((c: any) => c.chosen))).to.deep.equal(new Set([byName('one eligible').miners.at(-1).address]))
      expect(byName('price caps').cases.filter((c: any) => c.job.max_price_per_second === '0').every((c: any) => c.chosen === byName('price caps').miners.at(-1).address)).to.equal(true)
      expect(BigInt(byName('large weights').cases[0].total_weight) > 2n ** 64n).to.equal(true)
    })
  })

  describe('votes and proposals', () => {
    it('vote sign bytes and signatures', () => {
      expect(G.votes.length).to.be.at.least(4)
      for (const v of G.votes) {
        const k = keyOfSeed(v.signer_seed)
        const bytes = voteSignBytes(v.chain_id, v.type, v.height, v.round, hex(v.block_hash), v.timestamp)
        expect(toHex(bytes), v.name).to.equal(v.sign_bytes)
        expect(toHex(k.sign(bytes)), v.name).to.equal(v.signature)
        expect(verifySignature(k.publicKey, bytes, hex(v.signature)), v.name).to.equal(true)
        expect(toHexUpper(addressBytesFromPubkey(k.publicKey)), v.name).to.equal(v.validator_address)
      }
    })

    it('the nil precommit is the example of docs/protocol.md 4.4', () => {
      expect(G.votes[0].sign_bytes).to.equal(toHex(utf8Bytes('AITBC/vote/v1')) + '96a163020500c400cb4278bcfe5687b000')
    })

    it('proposal sign bytes and signatures', () => {
      expect(G.proposals.length).to.be.at.least(2)
      for (const p of G.proposals) {
        const k = keyOfSeed(p.signer_seed)
        const bytes = proposalSignBytes(p.chain_id, p.height, p.round, hex(p.block_hash), p.pol_round, p.timestamp)
        expect(toHex(bytes), p.name).to.equal(p.sign_bytes)
        expect(toHex(k.sign(bytes)), p.name).to.equal(p.signature)
        expect(verifySignature(k.publicKey, bytes, hex(p.signature)), p.name).to.equal(true)
      }
    })

    it('duplicate-vote evidence bytes, in either order of the votes, and the offence they prove', () => {
      expect(G.evidence.length).to.be.at.least(2)
      for (const e of G.evidence) {
        const k = keyOfSeed(e.signer_seed)
        const votes: SignedVote[] = e.votes.map((v: any) => {
          const h = hex(v.block_hash)
          return { type: v.type, height: v.height, round: v.round, blockHash: h, timestamp: v.timestamp, validator: addressBytesFromPubkey(k.publicKey), signature: k.sign(voteSignBytes(e.chain_id, v.type, v.height, v.round, h, v.timestamp)) }
        })
        expect(votes.map(v => toHex(v.signature)), e.name).to.deep.equal(e.signatures)
        expect(toHex(encodeDuplicateVote(votes[0], votes[1])), e.name).to.equal(e.evidence)
        expect(toHex(encodeDuplicateVote(votes[1], votes[0])), e.name).to.equal(e.evidence)
        const r = checkEvidence(evidenceState(k.publicKey), hex(e.evidence), {
          chainId: e.chain_id, height: e.votes[0].height + 1, time: 0, proposer: '', randomness: new Uint8Array(0),
          validators: [{ address: addressBytesFromPubkey(k.publicKey), pubKey: k.publicKey, power: 1, name: 'v' }],
        })
        expect(r, e.name).to.deep.include({ address: e.validator_address, offence: e.offence })
      }
    })
  })

  describe('blocks built by the executor from the fixed genesis', () => {
    const built: Array<{ block: Block, results: Uint8Array, commit: Commit, validated: Uint8Array, vals: Validator[] }> = []
    let chain: MemChain

    before(() => {
      chain = new MemChain(parseGenesis(G.chain.genesis))
      const keys = G.chain.validator_seeds.map(keyOfSeed)
      for (const b of G.chain.blocks) {
        const { block, exec } = chain.propose(keys[b.inputs.proposer], b.inputs.time, b.inputs.txs.map((t: string) => decodeTx(hex(t))), { evidence: b.inputs.evidence.map(hex) })
        const checked = chain.validate(block)
        const commit = signCommit(chain.chainId, chain.validators, block, b.inputs.commit.round, b.inputs.commit.signers.map((s: any) => ({ key: keys[s.validator], timestamp: s.timestamp })))
        built.push({ block, results: resultsHash(exec.txResults), commit, validated: resultsHash(checked.txResults), vals: chain.validators })
        chain.commit(block, exec, commit)
      }
    })

    it('the genesis app hash', () => {
      const c = new MemChain(parseGenesis(G.chain.genesis))
      expect(toHexUpper(c.last.appHash)).to.equal(G.chain.genesis_app_hash)
    })

    it('has several blocks with txs, assigns, evidence and an empty one', () => {
      const blocks = G.chain.blocks
      expect(blocks.length).to.be.at.least(4)
      expect(blocks.some((b: any) => b.outputs.txs.length > b.inputs.txs.length)).to.equal(true) // the proposer added assigns
      expect(blocks.some((b: any) => b.inputs.evidence.length > 0)).to.equal(true)
      expect(blocks.some((b: any) => b.outputs.txs.length === 0)).to.equal(true)
    })

    for (const [i, b] of (G.chain.blocks as any[]).entries()) {
      it(`block ${b.height}: txs, header fields, header bytes, block hash, app hash, results hash, commit`, () => {
        const { block, results, commit, validated, vals } = built[i]
        const h: Header = block.header
        expect(block.txs.map(toHex)).to.deep.equal(b.outputs.txs)
        expect({
          chain_id: h.chainId, height: h.height, time: h.time, last_block_hash: toHexUpper(h.lastBlockHash), last_commit_hash: toHexUpper(h.lastCommitHash),
          data_hash: toHexUpper(h.dataHash), validators_hash: toHexUpper(h.validatorsHash), next_validators_hash: toHexUpper(h.nextValidatorsHash),
          consensus_hash: toHexUpper(h.consensusHash), app_hash: toHexUpper(h.appHash), last_results_hash: toHexUpper(h.lastResultsHash),
          evidence_hash: toHexUpper(h.evidenceHash), proposer_address: toHexUpper(h.proposerAddress),
        }).to.deep.equal(b.outputs.header)
        const headerBytes = pack(headerTuple(h))
        expect(toHex(headerBytes)).to.equal(b.outputs.header_bytes)
        expect(toHexUpper(sha256(headerBytes))).to.equal(b.outputs.block_hash)
        expect(toHexUpper(blockHash(h))).to.equal(b.outputs.block_hash)
        expect(toHexUpper(h.appHash)).to.equal(b.outputs.app_hash)
        expect(toHexUpper(results)).to.equal(b.outputs.results_hash)
        expect(toHexUpper(validated)).to.equal(b.outputs.results_hash)
        expect(toHex(pack(commitTuple(commit)))).to.equal(b.outputs.commit_bytes)
        expect(toHexUpper(commitHash(commit))).to.equal(b.outputs.commit_hash)
        expect(verifyCommit(chain.chainId, vals, commit, h.height, blockHash(h))).to.equal(null)
        if (i > 0) {
          expect(toHexUpper(h.lastBlockHash)).to.equal(G.chain.blocks[i - 1].outputs.block_hash)
          expect(toHexUpper(h.lastCommitHash)).to.equal(G.chain.blocks[i - 1].outputs.commit_hash)
          expect(toHexUpper(h.lastResultsHash)).to.equal(G.chain.blocks[i - 1].outputs.results_hash)
        }
      })
    }
  })
})
