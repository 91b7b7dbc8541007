// Server-sent events as OpenAI streams them: each event one `data: <json>` line and a blank
// line, the stream closed by `data: [DONE]`. Text is cut into chunks at character boundaries.

/** One SSE event carrying a JSON value. */
export function sseData (value: unknown): string { return `data: ${JSON.stringify(value)}\n\n` }

/** The event that ends an OpenAI stream. */
export const SSE_DONE = 'data: [DONE]\n\n'

/** Parses SSE text into the data of its events (a trailing partial event is returned as rest). */
export function parseSse (text: string): { events: string[], rest: string } {
  const events: string[] = []
  const norm = text.replace(/\r\n/g, '\n')
  const parts = norm.split('\n\n')
  const rest = parts.pop() ?? ''
  for (const p of parts) {
    const data = p.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).replace(/^ /, ''))
    if (data.length > 0) events.push(data.join('\n'))
  }
  return { events, rest }
}

/** Cuts text into pieces of at most `size` characters (code points, never half a surrogate pair). */
export function chunkText (text: string, size = 16): string[] {
  if (size < 1) throw new Error('chunk size must be at least 1')
  const chars = Array.from(text)
  const out: string[] = []
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''))
  return out
}
