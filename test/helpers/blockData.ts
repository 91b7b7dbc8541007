// Hand-made blocks for the coordinator's unit tests, in the shape its node source gives them
// (BlockData): signed txs with the events the chain emits for them, block-begin events, headers
// that chain by hash. Also an index on a temporary LevelDB (store, refresher, writer, reader)
// that runs without a node: nothing here starts a process or opens a socket.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { addressBytesFromPubkey, sha256, toHexUpper, utf8Bytes, toBase64, type SigningKey } from '../../node/core/crypto.ts'
import { parseGenesis, type Genesis, type GenesisMiner } from '../../genesis/genesis.ts'
import { makeGenesisJSON } from '../../genesis/build.ts'
import type { Tx } from '../../node/core/tx.ts'
import { NodeClient, silentLogger, type EventJSON, type HeaderJSON, type TxResultJSON } from '../../node/client.ts'
import type { BlockData } from '../../coordinator-module/nodeSource.ts'
import { NodeSource } from '../../coordinator-module/nodeSource.ts'
import { CoordinatorStore } from '../../coordinator-module/store.ts'
import { Refresher } from '../../coordinator-module/refresher.ts'
import { IndexWriter } from '../../coordinator-module/indexWriter.ts'
import { Indexer } from '../../coordinator-module/indexer.ts'
import { IndexReader } from '../../coordinator-module/indexReader.ts'
import { createCoordinatorMetrics } from '../../coordinator-module/metrics.ts'

export const UNIT_CHAIN_ID = 'aitbc-unit'
export const UNIT_GENESIS_TIME = '2024-01-01T00:00:00.000Z'

/** An event as the node's RPC gives it. */
export function ev (type: string, attrs: Record<string, string | number | bigint>): EventJSON {
  return { type, attributes: Object.entries(attrs).map(([key, value]) => ({ key, value: String(value), index: true })) }
}

export function txResult (events: EventJSON[]): TxResultJSON {
  return { code: 0, data: null, log: '', info: '', gas_wanted: '0', gas_used: '0', events, codespace: '' }
}

/** The hex address a header names a proposer by. */
export function validatorHex (k: SigningKey): string { return toHexUpper(addressBytesFromPubkey(k.publicKey)) }

export function genesisOf (o: { validator: SigningKey, accounts?: Array<{ address: string, balance: bigint }>, miners?: GenesisMiner[], chainId?: string }): Genesis {
  return parseGenesis(makeGenesisJSON({
    chainId: o.chainId ?? UNIT_CHAIN_ID,
    genesisTime: UNIT_GENESIS_TIME,
    validators: [{ pubKey: o.validator.publicKey }],
    accounts: o.accounts ?? [],
    miners: o.miners ?? [],
  }))
}

/** Builds consecutive blocks: each names the previous one's hash, one second apart by default. */
export class BlockMaker {
  height = 0
  hash = ''
  time = Date.parse(UNIT_GENESIS_TIME)
  constructor (readonly proposer: SigningKey, readonly chainId = UNIT_CHAIN_ID) {}

  /** The next block, without moving on (to build a rival or a bad one). */
  peek (txs: Array<{ tx: Tx, events: EventJSON[] }>, o: { finalize?: EventJSON[], dtMs?: number, lastHash?: string, chainId?: string, salt?: string } = {}): BlockData {
    const height = this.height + 1
    const time = new Date(this.time + (o.dtMs ?? 1000)).toISOString()
    const hash = toHexUpper(sha256(utf8Bytes(`${o.chainId ?? this.chainId}/${height}/${this.hash}/${o.salt ?? ''}`)))
    const header: HeaderJSON = {
      version: { block: '11', app: '1' },
      chain_id: o.chainId ?? this.chainId,
      height: String(height),
      time,
      last_block_id: this.hash === '' ? { hash: '', parts: { total: 0, hash: '' } } : { hash: o.lastHash ?? this.hash, parts: { total: 1, hash: o.lastHash ?? this.hash } },
      last_commit_hash: '',
      data_hash: toHexUpper(sha256(utf8Bytes(`data/${height}`))),
      validators_hash: '',
      next_validators_hash: '',
      consensus_hash: '',
      app_hash: toHexUpper(sha256(utf8Bytes(`app/${height}`))),
      last_results_hash: '',
      evidence_hash: '',
      proposer_address: validatorHex(this.proposer),
    }
    return {
      height,
      hash,
      header,
      txs: txs.map(t => toBase64(t.tx.bytes)),
      txResults: txs.map(t => txResult(t.events)),
      finalizeEvents: o.finalize ?? [],
    }
  }

  /** The next block; the maker moves on to it. */
  next (txs: Array<{ tx: Tx, events: EventJSON[] }>, o: { finalize?: EventJSON[], dtMs?: number } = {}): BlockData {
    const b = this.peek(txs, o)
    this.height = b.height
    this.hash = b.hash
    this.time = Date.parse(b.header.time)
    return b
  }
}

/** A coordinator index on a temporary LevelDB, written by IndexWriter and read by IndexReader. */
export interface TestIndex {
  dir: string
  store: CoordinatorStore
  refresher: Refresher
  writer: IndexWriter
  reader: IndexReader
  /** Every key and value in the store. */
  dump: () => Promise<Array<[string, unknown]>>
  /** Closes the store (the directory stays, for reopen). */
  close: () => Promise<void>
  /** Closes the store and deletes the directory. */
  destroy: () => Promise<void>
}

export async function openTestIndex (dir = mkdtempSync(join(tmpdir(), 'aitbc-coord-unit-'))): Promise<TestIndex> {
  const store = await CoordinatorStore.open(dir)
  const logger = silentLogger()
  const metrics = createCoordinatorMetrics()
  // A client to nowhere: the refresher and the indexer are never started, so it is never called.
  const client = new NodeClient('http://127.0.0.1:9', { retries: 0, timeoutMs: 100 })
  const refresher = new Refresher({}, { store, client, metrics, logger })
  await refresher.load()
  const writer = new IndexWriter({ store, refresher })
  await writer.load()
  const indexer = new Indexer({}, { client, source: new NodeSource({}, { client }), writer, metrics, logger })
  const reader = new IndexReader({ store, indexer })
  let closed = false
  const close = async (): Promise<void> => { if (!closed) { closed = true; await store.close() } }
  return {
    dir,
    store,
    refresher,
    writer,
    reader,
    dump: async () => await store.entries<unknown>(''),
    close,
    destroy: async () => { await close(); rmSync(dir, { recursive: true, force: true }) },
  }
}
