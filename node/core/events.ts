// ABCI-style events: what a tx or a block's begin work did, as typed key/value attributes.
// They are indexed for tx_search/block_search and matched by subscriptions.

export interface EventAttribute { key: string, value: string }
export interface AbciEvent { type: string, attributes: EventAttribute[] }

export function ev (type: string, attrs: Record<string, string | number | bigint>): AbciEvent {
  return { type, attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: String(v) })) }
}
