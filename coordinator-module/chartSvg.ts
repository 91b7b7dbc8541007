// A series drawn as SVG on the server (GET /v1/stats/chart): the explorer inlines it, so no chart
// library is loaded and nothing comes from elsewhere. Pure: a Series in, SVG text out. Colours
// are CSS variables with light defaults (the explorer's style sheet sets them, dark mode
// included); the root carries data-points, data-metric, data-window and data-last so that a test
// or a script can read what is drawn.
import { FINAL_STATUSES } from './chainStats.ts'
import type { Series, SeriesPoint } from './statsSeries.ts'

interface Line { key: string, label: string }
interface ChartDef {
  kind: 'line' | 'bars'
  lines: Line[]
  /** Steps (a level that holds until the next point) instead of slopes. */
  step?: boolean
  /** The y axis' top, fixed (rates: 100). */
  yMax?: number
  /** What an empty chart says. */
  empty?: string
}

const CHARTS: Readonly<Record<string, ChartDef>> = {
  'tx-per-s': { kind: 'line', lines: [{ key: 'value', label: 'tx/s' }] },
  'block-interval': { kind: 'line', lines: [{ key: 'value', label: 'interval' }] },
  mempool: { kind: 'line', step: true, lines: [{ key: 'value', label: 'mempool' }], empty: 'No samples of the node\'s mempool in this window yet.' },
  jobs: { kind: 'bars', lines: FINAL_STATUSES.map(s => ({ key: s, label: s })) },
  'job-latency': { kind: 'line', lines: [{ key: 'value', label: 'p50' }, { key: 'p95', label: 'p95' }], empty: 'No job settled with a receipt in this window.' },
  'miner-tokens-per-s': { kind: 'line', lines: [{ key: 'value', label: 'tokens/s' }], empty: 'No completed job with token counts in this window.' },
  'miner-first-token': { kind: 'line', lines: [{ key: 'value', label: 'first token' }], empty: 'n/a: no receipt in this window reports the time to first token' },
  'miner-rates': {
    kind: 'line',
    yMax: 100,
    lines: [{ key: 'value', label: 'success' }, { key: 'failure_rate', label: 'failure' }, { key: 'expiry_rate', label: 'expiry' }, { key: 'verification_rate', label: 'verified' }],
    empty: 'No job of this miner settled in this window.',
  },
  'miner-earnings': { kind: 'line', step: true, lines: [{ key: 'value', label: 'earned' }] },
  'miner-stake': { kind: 'line', step: true, lines: [{ key: 'value', label: 'stake' }, { key: 'slashed_total', label: 'slashed' }] },
}

export interface ChartOptions { width: number, height: number }

/** Room a legend entry takes: swatch, gap, label (11 px text), space after. */
const legendItemWidth = (label: string): number => Math.ceil(label.length * 6.4) + 22
const esc = (s: string): string => s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] as string))
const f1 = (v: number): string => (Math.round(v * 10) / 10).toString()

/** A short number: 1234 → 1.2k, 0.0312 → 0.031. */
export function formatNumber (v: number): string {
  const a = Math.abs(v)
  if (a >= 1e9) return `${f1(v / 1e9)}G`
  if (a >= 1e6) return `${f1(v / 1e6)}M`
  if (a >= 1e4) return `${f1(v / 1e3)}k`
  if (a >= 100 || v === Math.round(v)) return String(Math.round(v))
  if (a >= 1) return String(Math.round(v * 100) / 100)
  return String(Number(v.toPrecision(2)))
}

function niceStep (range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks)
  const p = 10 ** Math.floor(Math.log10(raw))
  const m = raw / p
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p
}

const MINUTE = 60_000
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map(m => m * MINUTE)

/** A step between time labels: a round number of minutes or hours. */
function timeStep (range: number, ticks: number): number {
  return TIME_STEPS.find(s => s >= range / Math.max(1, ticks)) ?? TIME_STEPS[TIME_STEPS.length - 1]
}

function timeLabel (ms: number): string {
  const d = new Date(ms)
  return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`
}

/** Words in lines of at most `max` characters. */
function wrap (text: string, max: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const w of text.split(' ')) {
    if (line !== '' && line.length + 1 + w.length > max) { lines.push(line); line = w } else line = line === '' ? w : `${line} ${w}`
  }
  if (line !== '') lines.push(line)
  return lines
}

const STYLE = `.aitbc-chart{font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.aitbc-chart .grid{stroke:var(--chart-grid,#e3e7ef);stroke-width:1}
.aitbc-chart .axis{fill:var(--chart-axis,#6b7385)}
.aitbc-chart .empty{fill:var(--chart-axis,#6b7385);font-size:12px}
.aitbc-chart .ln{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
.aitbc-chart .c0{stroke:var(--chart-0,#3457d5);fill:var(--chart-0,#3457d5)}
.aitbc-chart .c1{stroke:var(--chart-1,#d9822b);fill:var(--chart-1,#d9822b)}
.aitbc-chart .c2{stroke:var(--chart-2,#c0392b);fill:var(--chart-2,#c0392b)}
.aitbc-chart .c3{stroke:var(--chart-3,#1f8a4c);fill:var(--chart-3,#1f8a4c)}
.aitbc-chart .ln.c0,.aitbc-chart .ln.c1,.aitbc-chart .ln.c2,.aitbc-chart .ln.c3{fill:none}
.aitbc-chart .completed{fill:var(--chart-ok,#1f8a4c)}
.aitbc-chart .failed{fill:var(--chart-bad,#c0392b)}
.aitbc-chart .rejected{fill:var(--chart-rejected,#8e44ad)}
.aitbc-chart .cancelled{fill:var(--chart-grey,#98a0b3)}
.aitbc-chart .expired{fill:var(--chart-warn,#d9822b)}
.aitbc-chart .other{fill:var(--chart-0,#3457d5)}`

/** The value of `key` at a point (jobs: its by_outcome entry); null when the point has none. */
function valueOf (p: SeriesPoint, key: string, def: ChartDef): number | null {
  const v = def.kind === 'bars' ? (p.by_outcome as Record<string, number> | undefined)?.[key] : p[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** The series as an SVG document of width × height. */
export function renderChartSvg (s: Series, o: ChartOptions): string {
  const def = CHARTS[s.metric] ?? { kind: 'line', lines: [{ key: 'value', label: s.metric }] }
  const W = Math.round(o.width)
  const H = Math.round(o.height)
  const pts = s.points
  const byTime = s.resolution === 'minute'
  const xOf = (p: SeriesPoint): number => byTime ? Date.parse(p.t) : p.height
  const last = pts.length === 0 ? null : pts[pts.length - 1]
  const attrs = `data-metric="${esc(s.metric)}" data-window="${esc(s.window)}" data-points="${pts.length}" data-unit="${esc(s.unit)}" ` +
    `data-last="${last === null ? '' : esc(String(last.value))}" data-last-height="${last === null ? '' : last.height}" data-figures-from="${s.figures_from_height ?? ''}"`
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="aitbc-chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(`${s.metric}, ${s.window}, ${pts.length} points`)}" ${attrs}><style>${STYLE}</style>`
  const mL = 46; const mR = 12; const mT = 22; const mB = 22
  const pw = Math.max(10, W - mL - mR)
  const ph = Math.max(10, H - mT - mB)
  if (pts.length === 0) {
    const lines = wrap(def.empty ?? 'No data in this window yet.', Math.max(12, Math.floor((W - 24) / 6.6)))
    const y0 = mT + ph / 2 - (lines.length - 1) * 8
    const text = lines.map((l, i) => `<tspan x="${W / 2}" y="${y0 + i * 16}">${esc(l)}</tspan>`).join('')
    return `${head}<line class="grid" x1="${mL}" x2="${mL + pw}" y1="${mT + ph}" y2="${mT + ph}"/><text class="empty" text-anchor="middle">${text}</text></svg>`
  }

  // Which series to draw: those with at least one value (jobs: the outcomes that occur, in order).
  const outcomeKeys = def.kind === 'bars' ? [...new Set([...def.lines.map(l => l.key), ...pts.flatMap(p => Object.keys((p.by_outcome as object | undefined) ?? {}))])] : []
  const lines: Line[] = def.kind === 'bars'
    ? outcomeKeys.filter(k => pts.some(p => (valueOf(p, k, def) ?? 0) > 0)).map(k => ({ key: k, label: k }))
    : def.lines.filter(l => pts.some(p => valueOf(p, l.key, def) !== null))

  // Domains.
  let x0 = Math.min(...pts.map(xOf))
  let x1 = Math.max(...pts.map(xOf))
  if (byTime) {
    const from = Date.parse(s.from ?? ''); const to = Date.parse(s.to ?? '')
    if (Number.isFinite(from)) x0 = Math.min(x0, from)
    if (Number.isFinite(to)) x1 = Math.max(x1, to)
  }
  const slot = byTime ? 60_000 : 1
  if (def.kind === 'bars') { x0 -= slot / 2; x1 += slot / 2 }
  if (x1 <= x0) { x0 -= slot; x1 += slot }
  const tops = def.kind === 'bars'
    ? pts.map(p => lines.reduce((a, l) => a + (valueOf(p, l.key, def) ?? 0), 0))
    : pts.flatMap(p => lines.map(l => valueOf(p, l.key, def) ?? 0))
  const vmax = Math.max(0, ...tops)
  const step = def.yMax !== undefined ? def.yMax / 4 : niceStep(vmax === 0 ? 1 : vmax, 4)
  const yTop = def.yMax ?? Math.max(step, Math.ceil(vmax / step - 1e-9) * step)
  const X = (x: number): number => mL + (x - x0) / (x1 - x0) * pw
  const Y = (v: number): number => mT + ph - v / yTop * ph
  const r2 = (v: number): string => (Math.round(v * 10) / 10).toString()

  const out: string[] = [head]
  // Grid and axes.
  for (let v = 0; v <= yTop + 1e-9; v += step) {
    out.push(`<line class="grid" x1="${mL}" x2="${mL + pw}" y1="${r2(Y(v))}" y2="${r2(Y(v))}"/>`)
    out.push(`<text class="axis" x="${mL - 6}" y="${r2(Y(v) + 3.5)}" text-anchor="end">${esc(formatNumber(v))}</text>`)
  }
  const xTicks = Math.max(2, Math.min(6, Math.floor(pw / 90)))
  const xStep = byTime ? timeStep(x1 - x0, xTicks) : Math.max(1, Math.round(niceStep(x1 - x0, xTicks)))
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) {
    const label = byTime ? timeLabel(x) : formatNumber(x)
    out.push(`<text class="axis" x="${r2(X(x))}" y="${H - 6}" text-anchor="middle">${esc(label)}</text>`)
  }
  const legendWidth = lines.length > 1 ? lines.reduce((a, l) => a + legendItemWidth(l.label), 0) : 0
  const unitText = `${s.unit}${byTime ? ' · per minute (UTC)' : ' · by height'}`
  if (mL + unitText.length * 6 + 8 < W - mR - legendWidth) out.push(`<text class="axis" x="${mL}" y="13">${esc(unitText)}</text>`)
  else if (mL + s.unit.length * 6 + 8 < W - mR - legendWidth) out.push(`<text class="axis" x="${mL}" y="13">${esc(s.unit)}</text>`)

  const tip = (p: SeriesPoint, v: number, label: string): string => `<title>${esc(`${byTime ? p.t.slice(11, 16) + ' UTC' : `block ${p.height}`} · ${label} ${formatNumber(v)} ${s.unit}`)}</title>`
  const titled = pts.length <= 300

  if (def.kind === 'bars') {
    const bw = Math.max(1, Math.min(18, pw / ((x1 - x0) / slot) * 0.8))
    for (const p of pts) {
      let acc = 0
      for (const l of lines) {
        const v = valueOf(p, l.key, def) ?? 0
        if (v <= 0) continue
        const cls = FINAL_STATUSES.includes(l.key) ? l.key : 'other'
        out.push(`<rect class="${cls}" x="${r2(X(xOf(p)) - bw / 2)}" y="${r2(Y(acc + v))}" width="${r2(bw)}" height="${r2(Math.max(0.5, Y(acc) - Y(acc + v)))}">${titled ? tip(p, v, l.label) : ''}</rect>`)
        acc += v
      }
    }
  } else {
    lines.forEach((l, i) => {
      const cls = `c${i % 4}`
      const segs: string[][] = [[]]
      let prev: { x: number, y: number, t: number } | null = null
      for (const p of pts) {
        const v = valueOf(p, l.key, def)
        if (v === null) continue
        const x = X(xOf(p)); const y = Y(v); const t = xOf(p)
        // A gap of more than two minutes without figures breaks the line.
        if (prev !== null && byTime && !def.step && t - prev.t > 2 * 60_000) segs.push([])
        const seg = segs[segs.length - 1]
        if (prev !== null && def.step && seg.length > 0) seg.push(`${r2(x)},${r2(prev.y)}`)
        seg.push(`${r2(x)},${r2(y)}`)
        prev = { x, y, t }
      }
      for (const seg of segs) if (seg.length > 1) out.push(`<polyline class="ln ${cls}" points="${seg.join(' ')}"/>`)
      const shown = pts.filter(p => valueOf(p, l.key, def) !== null && p.anchor !== true)
      if (shown.length <= 120) {
        for (const p of shown) {
          const v = valueOf(p, l.key, def) as number
          out.push(`<circle class="${cls}" cx="${r2(X(xOf(p)))}" cy="${r2(Y(v))}" r="${shown.length <= 30 ? 2.6 : 1.8}">${titled ? tip(p, v, l.label) : ''}</circle>`)
        }
      }
    })
  }

  // Legend, right-aligned on the top line.
  if (lines.length > 1) {
    let x = W - mR
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]
      const cls = def.kind === 'bars' ? (FINAL_STATUSES.includes(l.key) ? l.key : 'other') : `c${i % 4}`
      const w = legendItemWidth(l.label)
      x -= w
      out.push(`<rect class="${cls}" x="${x}" y="6" width="9" height="9" rx="2"/><text class="axis" x="${x + 12}" y="14">${esc(l.label)}</text>`)
    }
  }
  out.push('</svg>')
  return out.join('')
}
