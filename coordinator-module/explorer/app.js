// The AITBC block explorer: a small single-page app over the coordinator's REST API (same
// origin, no CDN, no build step). Hash routes: #/, #/blocks, #/txs, #/jobs, #/miners,
// #/validators, #/block/H, #/tx/HASH, #/account/ADDR, #/miner/ADDR, #/job/ID. The open page
// refreshes itself every few seconds; charts are SVG drawn by the coordinator
// (/v1/stats/chart), and a job page follows its job over the job WebSocket (/v1/ws).
'use strict'

const REFRESH_MS = 3000
const view = document.getElementById('view')
const statusbar = document.getElementById('statusbar')
let renderSeq = 0
let paused = false // a list the user extended with "Load more" stops refreshing

// ---- helpers ----

function esc (v) {
  return String(v ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]))
}

async function api (path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } })
  let body = null
  try { body = await res.json() } catch { body = null }
  if (!res.ok) {
    const err = new Error((body && body.message) || `HTTP ${res.status}`)
    err.status = res.status
    throw err
  }
  return body
}

function aitbc (u) {
  if (u === null || u === undefined || u === '') return '—'
  let n
  try { n = BigInt(u) } catch { return esc(u) }
  const neg = n < 0n
  if (neg) n = -n
  const whole = n / 1000000n
  const frac = (n % 1000000n).toString().padStart(6, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}${frac ? '.' + frac : ''} AITBC`
}

function ago (iso) {
  if (!iso) return '—'
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86400)}d ago`
}

function time (iso) {
  if (!iso) return '—'
  return `<span title="${esc(iso)}">${esc(new Date(iso).toLocaleString())}</span> <span class="muted">(${ago(iso)})</span>`
}

function short (s, head = 10, tail = 6) {
  s = String(s ?? '')
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`
}

const link = {
  block: h => `<a href="#/block/${esc(h)}">${esc(h)}</a>`,
  tx: (h, full) => h ? `<a class="mono" href="#/tx/${esc(h)}" title="${esc(h)}">${esc(full ? h : short(h, 10, 6))}</a>` : '—',
  account: (a, full) => a ? `<a class="mono" href="#/account/${esc(a)}" title="${esc(a)}">${esc(full ? a : short(a, 12, 6))}</a>` : '—',
  miner: (a, full) => a ? `<a class="mono" href="#/miner/${esc(a)}" title="${esc(a)}">${esc(full ? a : short(a, 12, 6))}</a>` : '—',
  job: id => id ? `<a class="mono" href="#/job/${esc(id)}" data-testid="job-link">${esc(id)}</a>` : '—',
}

/** Escapes a line of text and links the job ids and addresses in it. */
function linkify (text) {
  return esc(text).replace(/\b(job_[0-9a-f]{16}|aitbc1[02-9ac-hj-np-z]{38})\b/g, m => m.startsWith('job_') ? link.job(m) : link.account(m))
}

const badge = (s, extra = '') => `<span class="badge ${esc(s)} ${extra}">${esc(s)}</span>`

function table (cols, rows, empty = 'Nothing yet.') {
  if (!rows.length) return `<div class="empty">${esc(empty)}</div>`
  const head = cols.map(c => `<th class="${c.num ? 'num' : ''}">${esc(c.title)}</th>`).join('')
  const body = rows.map(r => `<tr>${cols.map(c => `<td class="${c.num ? 'num' : ''} ${c.wrap ? 'wrap' : ''}">${c.cell(r)}</td>`).join('')}</tr>`).join('')
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`
}

function panel (title, body, extra = '', testid = '') {
  return `<section class="panel" ${testid ? `data-testid="${esc(testid)}"` : ''}><div class="panel-head"><h2>${title}</h2>${extra}</div>${body}</section>`
}

function kv (pairs) {
  return `<dl class="kv">${pairs.filter(p => p).map(([k, v, id]) => `<dt>${esc(k)}</dt><dd ${id ? `data-testid="${esc(id)}"` : ''}>${v}</dd>`).join('')}</dl>`
}

function card (label, value, hint = '', id = '') {
  return `<div class="card" ${id ? `data-testid="${esc(id)}"` : ''}><div class="label">${esc(label)}</div><div class="value">${value}</div><div class="hint">${hint}</div></div>`
}

function notFound (what, message) {
  return `<h1>${esc(what)}</h1><div class="notice bad" data-testid="not-found">${esc(message)}</div>`
}

// ---- table columns ----

const blockCols = [
  { title: 'Height', cell: b => link.block(b.height) },
  { title: 'Time', cell: b => `<span title="${esc(b.time)}">${ago(b.time)}</span>` },
  { title: 'Txs', num: true, cell: b => esc(b.num_txs) },
  { title: 'Proposer', cell: b => link.account(b.proposer) },
  { title: 'Hash', cell: b => `<span class="mono muted" title="${esc(b.hash)}">${esc(short(b.hash, 12, 4))}</span>` },
]

const txCols = [
  { title: 'Hash', cell: t => link.tx(t.hash) },
  { title: 'Type', cell: t => badge(t.type, 'type') },
  { title: 'Block', cell: t => link.block(t.height) },
  { title: 'From', cell: t => link.account(t.sender) },
  { title: 'Details', wrap: true, cell: t => linkify(t.summary) },
  { title: 'Age', cell: t => `<span title="${esc(t.time)}">${ago(t.time)}</span>` },
]

const jobCols = [
  { title: 'Job', cell: j => link.job(j.job_id) },
  { title: 'Status', cell: j => badge(j.status) },
  { title: 'Model', cell: j => `<span class="mono">${esc(j.model)}</span>` },
  { title: 'Miner', cell: j => link.miner(j.miner) },
  { title: 'Cost', num: true, cell: j => j.cost === null || j.cost === undefined ? '<span class="muted">—</span>' : aitbc(j.cost) },
  { title: 'Submitted', cell: j => `<span title="${esc(j.submitted_at)}">${ago(j.submitted_at)}</span>` },
]

const perf = m => m.performance || {}
const rate = v => v === null || v === undefined ? '<span class="muted">—</span>' : `${Number(v).toFixed(1)}%`
const orNa = (v, unit) => v === null || v === undefined ? '<span class="muted">n/a</span>' : `${esc(v)} ${unit}`

const minerCols = [
  { title: 'Miner', sort: 'address', cell: m => link.miner(m.address) },
  { title: 'Models', cell: m => (m.models || []).map(x => `<span class="mono">${esc(x)}</span>`).join('<br>') },
  { title: 'Stake', num: true, sort: 'stake', cell: m => aitbc(m.stake) },
  { title: 'Tokens / s', num: true, sort: 'tokens_per_s', cell: m => orNa(perf(m).tokens_per_s, '') },
  { title: 'First token', num: true, sort: 'first_token_ms', cell: m => orNa(perf(m).first_token_ms, 'ms') },
  { title: 'Success', num: true, sort: 'success_rate', cell: m => rate(perf(m).success_rate) },
  { title: 'Failure', num: true, sort: 'failure_rate', cell: m => rate(perf(m).failure_rate) },
  { title: 'Expiry', num: true, sort: 'expiry_rate', cell: m => rate(perf(m).expiry_rate) },
  { title: 'Verified', num: true, sort: 'verification_rate', cell: m => perf(m).verification_samples ? rate(perf(m).verification_rate) : '<span class="muted">0 samples</span>' },
  { title: 'Earned', num: true, sort: 'earned', cell: m => aitbc(m.earned) },
  { title: 'Slashed', num: true, sort: 'slashed', cell: m => aitbc(m.slashed) },
  { title: 'Jobs done', num: true, sort: 'jobs_completed', cell: m => esc(m.jobs_completed) },
  { title: 'Reputation', num: true, sort: 'reputation', cell: m => `${(m.reputation / 100).toFixed(2)}%` },
  { title: 'Price / s', num: true, sort: 'price_per_second', cell: m => aitbc(m.price_per_second) },
  { title: 'Busy', num: true, cell: m => `${esc(m.active_jobs)} / ${esc(m.capacity)}` },
  { title: 'State', cell: m => badge(m.active ? 'active' : 'inactive') },
]

/** The value a miners table sorts by (null sorts last either way). */
function minerSortValue (m, key) {
  if (key === 'address') return m.address
  if (['stake', 'earned', 'slashed', 'price_per_second'].includes(key)) return Number(m[key])
  if (key === 'jobs_completed' || key === 'reputation') return m[key]
  const v = perf(m)[key]
  return v === null || v === undefined ? null : v
}

const minerSort = { key: 'stake', dir: 'desc' }
const sortTables = new Map() // id -> rows, for re-sorting without a fetch

function sortedMiners (rows) {
  const { key, dir } = minerSort
  return [...rows].sort((a, b) => {
    const x = minerSortValue(a, key); const y = minerSortValue(b, key)
    if (x === null && y === null) return 0
    if (x === null) return 1
    if (y === null) return -1
    const c = typeof x === 'string' ? x.localeCompare(y) : x - y
    return dir === 'asc' ? c : -c
  })
}

/** The miners table: click a column's title to sort by it (again: the other way). */
function minersTable (id, rows) {
  sortTables.set(id, rows)
  if (!rows.length) return '<div class="empty">No miners registered.</div>'
  const head = minerCols.map(c => {
    const cls = c.num ? 'num' : ''
    if (!c.sort) return `<th class="${cls}">${esc(c.title)}</th>`
    const on = minerSort.key === c.sort
    const aria = on ? (minerSort.dir === 'asc' ? 'ascending' : 'descending') : 'none'
    return `<th class="${cls}" aria-sort="${aria}"><button type="button" class="sort" data-sort="${esc(c.sort)}" data-table="${esc(id)}">${esc(c.title)}<span class="arrow">${on ? (minerSort.dir === 'asc' ? '▲' : '▼') : ''}</span></button></th>`
  }).join('')
  const body = sortedMiners(rows).map(r => `<tr data-miner="${esc(r.address)}">${minerCols.map(c => `<td class="${c.num ? 'num' : ''} ${c.wrap ? 'wrap' : ''}">${c.cell(r)}</td>`).join('')}</tr>`).join('')
  return `<div class="scroll" data-sortable="${esc(id)}"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`
}

document.addEventListener('click', (ev) => {
  const b = ev.target.closest && ev.target.closest('button[data-sort]')
  if (!b) return
  const key = b.dataset.sort
  minerSort.dir = minerSort.key === key ? (minerSort.dir === 'asc' ? 'desc' : 'asc') : (key === 'first_token_ms' || key === 'address' ? 'asc' : 'desc')
  minerSort.key = key
  const id = b.dataset.table
  const box = document.querySelector(`[data-sortable="${id}"]`)
  if (box) box.outerHTML = minersTable(id, sortTables.get(id) || [])
})

// ---- charts: SVG drawn by the coordinator (GET /v1/stats/chart), refreshed with the page ----

const WINDOWS = [['100b', '100 blocks'], ['1h', '1 hour'], ['24h', '24 hours']]
const DEFAULT_WINDOW = '1h'
const OVERVIEW_CHARTS = [
  { metric: 'tx-per-s', title: 'Committed tx/s' },
  { metric: 'block-interval', title: 'Block interval' },
  { metric: 'mempool', title: 'Mempool size', note: 'sampled from the node every 2 s' },
  { metric: 'jobs', title: 'Jobs by outcome' },
  { metric: 'job-latency', title: 'Job latency, submit → settle', note: 'p50 and p95' },
]
const MINER_CHARTS = [
  { metric: 'miner-tokens-per-s', title: 'Tokens per second' },
  { metric: 'miner-first-token', title: 'Time to first token' },
  { metric: 'miner-rates', title: 'Success, failure, expiry, verification', note: 'over the window so far' },
  { metric: 'miner-earnings', title: 'Earnings' },
  { metric: 'miner-stake', title: 'Stake and slashes' },
]
const chartWindows = {} // chart id -> the window chosen
const chartCache = new Map() // chart id|window -> { svg, points, last }

const chartId = (metric, miner) => miner ? `${metric}@${miner}` : metric

function chartFigure (c, miner) {
  const id = chartId(c.metric, miner)
  const w = chartWindows[id] || DEFAULT_WINDOW
  const cached = chartCache.get(`${id}|${w}`)
  return `<figure class="chart" data-chart="${esc(c.metric)}" ${miner ? `data-miner="${esc(miner)}"` : ''} data-window="${esc(w)}" data-points="${cached ? esc(cached.points) : ''}" data-state="${cached ? 'ready' : 'loading'}">
    <div class="chart-head"><h3>${esc(c.title)}</h3><span class="chart-last">${cached ? esc(cached.last) : ''}</span></div>
    <div class="chart-windows" role="group" aria-label="Window">${WINDOWS.map(([k, label]) => `<button type="button" data-window="${k}" aria-pressed="${k === w}">${label}</button>`).join('')}</div>
    <div class="chart-svg">${cached ? cached.svg : '<div class="chart-msg">Loading…</div>'}</div>
    ${c.note ? `<figcaption>${esc(c.note)}</figcaption>` : ''}
  </figure>`
}

function chartsGrid (charts, miner, testid) {
  return `<div class="charts" data-testid="${esc(testid)}">${charts.map(c => chartFigure(c, miner)).join('')}</div>`
}

/** Fetches a figure's SVG at the width it has on the page, and puts it in. */
async function loadChart (fig) {
  const metric = fig.dataset.chart
  const miner = fig.dataset.miner
  const id = chartId(metric, miner)
  const w = chartWindows[id] || DEFAULT_WINDOW
  const box = fig.querySelector('.chart-svg')
  const width = Math.max(120, Math.min(2400, Math.floor(box.clientWidth || 360)))
  const height = width < 420 ? 170 : 200
  const q = `metric=${encodeURIComponent(metric)}&window=${encodeURIComponent(w)}&width=${width}&height=${height}${miner ? `&miner=${encodeURIComponent(miner)}` : ''}`
  let res, text
  try { res = await fetch(`/v1/stats/chart?${q}`); text = await res.text() } catch (e) { res = { ok: false }; text = JSON.stringify({ message: e.message }) }
  if (!fig.isConnected || (chartWindows[id] || DEFAULT_WINDOW) !== w) return // replaced meanwhile
  if (!res.ok) {
    let msg = 'cannot load this chart'
    try { msg = JSON.parse(text).message || msg } catch {}
    box.innerHTML = `<div class="chart-msg error-text">${esc(msg)}</div>`
    fig.dataset.state = 'error'
    return
  }
  box.innerHTML = text
  const svg = box.querySelector('svg')
  const points = svg ? svg.dataset.points : '0'
  const unit = svg ? svg.dataset.unit : ''
  const lastValue = svg ? svg.dataset.last : ''
  const last = points === '0' ? (metric === 'miner-first-token' ? 'n/a' : 'no data') : `latest ${Number(lastValue).toLocaleString('en-US', { maximumFractionDigits: 3 })} ${unit}`
  fig.dataset.points = points
  fig.dataset.window = w
  fig.dataset.state = 'ready'
  fig.querySelector('.chart-last').textContent = last
  // An index written before the figures existed has them from a later block on.
  const from = svg ? Number(svg.dataset.figuresFrom) : 0
  if (from > 0 && !fig.querySelector('.figures-from')) fig.insertAdjacentHTML('beforeend', `<figcaption class="figures-from">Figures from block ${from} on; \`aitbc coordinator rebuild\` fills in the earlier ones.</figcaption>`)
  chartCache.set(`${id}|${w}`, { svg: text, points, last })
}

/** Wires the window buttons and loads the charts below `root`. */
function wireCharts (root) {
  root.querySelectorAll('figure.chart').forEach(fig => {
    fig.querySelectorAll('.chart-windows button').forEach(b => b.addEventListener('click', () => {
      const id = chartId(fig.dataset.chart, fig.dataset.miner)
      chartWindows[id] = b.dataset.window
      fig.querySelectorAll('.chart-windows button').forEach(x => x.setAttribute('aria-pressed', String(x === b)))
      fig.dataset.window = b.dataset.window
      fig.dataset.state = 'loading'
      loadChart(fig)
    }))
    loadChart(fig)
  })
}

let resizeTimer = null
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer)
  resizeTimer = setTimeout(() => document.querySelectorAll('figure.chart').forEach(loadChart), 250)
})

const validatorCols = [
  { title: 'Name', cell: v => esc(v.name || '—') },
  { title: 'Address', cell: v => `<span class="mono">${esc(v.address)}</span>` },
  { title: 'Account', cell: v => link.account(v.account) },
  { title: 'Voting power', num: true, cell: v => esc(v.voting_power) },
]

/** A validator's signed/missed history over the last commits: one square per height (oldest first). */
function signHistory (h) {
  const cls = { S: 'signed', M: 'missed', '-': 'absent' }
  const what = { S: 'signed', M: 'missed', '-': 'not in the set' }
  return `<span class="sig-history" data-testid="sig-history">${[...(h || '')].map(c => `<i class="${cls[c] || 'absent'}" title="${esc(what[c] || '')}"></i>`).join('')}</span>`
}

const validatorPageCols = [
  { title: 'Name', cell: v => esc(v.name || '—') },
  { title: 'Address', cell: v => `<span class="mono">${esc(v.address)}</span>` },
  { title: 'Operator', cell: v => v.operator ? link.account(v.operator) : '—' },
  { title: 'Power', num: true, cell: v => esc(v.power) },
  { title: 'Status', cell: v => `<span class="badge ${esc(v.status)}" data-testid="validator-status">${esc(v.status)}</span>` },
  { title: 'Stake', num: true, cell: v => v.stake === null ? '—' : esc(aitbc(v.stake)) },
  { title: 'Missed', num: true, cell: v => `<span data-testid="validator-missed">${esc(v.missed_blocks)}</span>` },
  { title: 'Signed / missed (last commits)', cell: v => signHistory(v.history) },
]

// ---- pages ----

function figures (s) {
  const byStatus = s.jobs_by_status || {}
  return `<div class="cards" data-testid="figures">
    ${card('Height', esc(s.height), s.lag ? `node at ${esc(s.node_height)} · lag ${esc(s.lag)}` : 'in sync with the node', 'fig-height')}
    ${card('Block time', s.block_time_ms === null ? '—' : `${(s.block_time_ms / 1000).toFixed(2)} s`, 'mean of the last 20 blocks', 'fig-block-time')}
    ${card('Tx / s', esc(s.tx_per_s), `over the last ${esc(s.window_s)} s`, 'fig-tps')}
    ${card('Jobs / minute', esc(s.jobs_per_minute), `over the last ${esc(s.window_s)} s`, 'fig-jpm')}
    ${card('Jobs', esc(s.jobs), `${esc(byStatus.completed || 0)} completed · ${esc((byStatus.pending || 0) + (byStatus.assigned || 0))} open`, 'fig-jobs')}
    ${card('Transactions', esc(s.txs), `${esc(s.miners)} miners · ${esc(s.accounts)} accounts`, 'fig-txs')}
  </div>`
}

async function pageHome (ctx) {
  const [stats, blocks, txs, jobs, miners, vals] = await Promise.all([
    api('/v1/stats'), api('/v1/blocks?limit=10'), api('/v1/txs?limit=10'), api('/v1/jobs?limit=10'), api('/v1/miners'),
    api('/v1/validators').catch(() => ({ validators: [] })),
  ])
  ctx.after(() => wireCharts(view))
  return `${figures(stats)}
    ${chartsGrid(OVERVIEW_CHARTS, null, 'charts')}
    <div class="grid2">
      ${panel('Latest blocks', table(blockCols, blocks.blocks), '<a href="#/blocks">All blocks →</a>', 'latest-blocks')}
      ${panel('Latest transactions', table(txCols.filter(c => c.title !== 'Block' && c.title !== 'From'), txs.txs), '<a href="#/txs">All transactions →</a>', 'latest-txs')}
    </div>
    ${panel('Jobs', table(jobCols, jobs.jobs, 'No jobs yet.'), '<a href="#/jobs">All jobs →</a>', 'jobs')}
    ${panel('Miners', minersTable('home-miners', miners.miners), '<a href="#/miners">All miners →</a>', 'miners')}
    ${panel('Validators', table(validatorCols, vals.validators, 'No validators.'), '', 'validators')}`
}

/** A list page with "Load more" (cursor pages). */
function listPage (title, path, key, cols, opts = {}) {
  return async (ctx) => {
    const first = await api(path)
    const id = `more-${key}`
    const html = `<h1>${esc(title)}</h1>${opts.filters || ''}${panel(esc(title), `<div id="rows-${key}">${table(cols, first[key], opts.empty)}</div>${first.next_cursor ? `<div class="more"><button id="${id}" data-cursor="${esc(first.next_cursor)}">Load more</button></div>` : ''}`)}`
    ctx.after(() => {
      const btn = document.getElementById(id)
      if (!btn) return
      let rows = first[key]
      btn.addEventListener('click', async () => {
        paused = true
        const sep = path.includes('?') ? '&' : '?'
        const next = await api(`${path}${sep}cursor=${encodeURIComponent(btn.dataset.cursor)}`)
        rows = rows.concat(next[key])
        document.getElementById(`rows-${key}`).innerHTML = table(cols, rows, opts.empty)
        if (next.next_cursor) btn.dataset.cursor = next.next_cursor; else btn.parentElement.remove()
      })
    })
    return html
  }
}

function jobsPage (params, ctx) {
  const status = params.get('status') || ''
  const statuses = ['', 'pending', 'assigned', 'completed', 'failed', 'cancelled', 'expired']
  const filters = `<div class="filters" style="margin-bottom:12px">Status:
    <select id="status-filter">${statuses.map(s => `<option value="${s}" ${s === status ? 'selected' : ''}>${s || 'any'}</option>`).join('')}</select></div>`
  ctx.after(() => {
    const sel = document.getElementById('status-filter')
    if (sel) sel.addEventListener('change', () => { location.hash = sel.value ? `#/jobs?status=${sel.value}` : '#/jobs' })
  })
  return listPage('Jobs', `/v1/jobs?limit=25${status ? `&status=${encodeURIComponent(status)}` : ''}`, 'jobs', jobCols, { filters, empty: 'No jobs.' })(ctx)
}

async function pageMiners () {
  const r = await api('/v1/miners')
  return `<h1>Miners</h1>${panel(`${esc(r.total)} registered`, minersTable('miners', r.miners), '<span class="muted">click a column to sort</span>', 'miners-table')}`
}

async function pageValidators () {
  const r = await api('/v1/validators')
  const note = `<span class="muted">jailed past ${esc(r.downtime_max_missed)} missed of ${esc(r.downtime_window)} blocks; history from height ${esc(r.history_from)}</span>`
  return `<h1>Validators</h1>${panel(`${esc(r.total)} in the set at height ${esc(r.block_height)}, ${esc(r.records)} in all`, table(validatorPageCols, r.validators), note, 'validators-table')}`
}

function eventsTable (events) {
  if (!events || !events.length) return '<div class="empty">No events.</div>'
  return table([
    { title: 'Type', cell: e => badge(e.type, 'type') },
    { title: 'Attributes', wrap: true, cell: e => e.attributes.map(a => `<span class="muted">${esc(a.key)}</span>=<span class="mono">${esc(a.value)}</span>`).join(' · ') },
  ], events)
}

async function pageBlock (h) {
  let b
  try { b = await api(`/v1/blocks/${encodeURIComponent(h)}`) } catch (e) { return notFound(`Block ${h}`, e.message) }
  const height = Number(b.height)
  const nav = `<span class="pager">${height > 1 ? `<a href="#/block/${height - 1}">← ${height - 1}</a>` : ''}<a href="#/block/${height + 1}">${height + 1} →</a></span>`
  return `<h1>Block ${esc(b.height)} <span class="sub">${esc(b.hash)}</span></h1>
    ${panel('Header', kv([
      ['Height', esc(b.height), 'block-height'],
      ['Time', time(b.time)],
      ['Hash', `<span class="mono">${esc(b.hash)}</span>`],
      ['Previous block', b.last_block_hash ? `<a class="mono" href="#/block/${height - 1}">${esc(b.last_block_hash)}</a>` : '—'],
      ['Proposer', `${link.account(b.proposer, true)} <span class="muted mono">(${esc(b.proposer_address)})</span>`],
      ['Transactions', esc(b.num_txs)],
      ['App hash', `<span class="mono">${esc(b.app_hash)}</span>`],
      ['Data hash', `<span class="mono">${esc(b.data_hash)}</span>`],
    ]), nav)}
    ${panel('Transactions', table(txCols.filter(c => c.title !== 'Block' && c.title !== 'Age'), b.txs, 'No transactions in this block.'))}
    ${panel('Block events', eventsTable(b.finalize_events))}`
}

async function pageTx (hash) {
  let t
  try { t = await api(`/v1/txs/${encodeURIComponent(hash)}`) } catch (e) { return notFound('Transaction', e.message) }
  return `<h1>Transaction ${badge(t.type, 'type')} <span class="sub">${esc(t.hash)}</span></h1>
    ${panel('Overview', kv([
      ['Hash', `<span class="mono">${esc(t.hash)}</span>`],
      ['Result', t.code === 0 ? '<span class="badge completed">ok</span>' : `<span class="error-text">code ${esc(t.code)} ${esc(t.log)}</span>`],
      ['Block', `${link.block(t.height)} (tx ${esc(t.index)})`],
      ['Time', time(t.time)],
      ['Type', badge(t.type, 'type')],
      ['Sender', link.account(t.sender, true)],
      ['Nonce', esc(t.nonce)],
      ['Fee', aitbc(t.fee)],
      ['Summary', esc(t.summary)],
      t.job_id ? ['Job', link.job(t.job_id)] : null,
      t.receipt_id ? ['Receipt', `<span class="mono">${esc(t.receipt_id)}</span>`] : null,
    ]))}
    ${panel('Body', `<pre class="json">${esc(JSON.stringify(t.body, null, 2))}</pre>`)}
    ${panel('Events', eventsTable(t.events))}`
}

async function pageAccount (addr) {
  let a
  try { a = await api(`/v1/accounts/${encodeURIComponent(addr)}`) } catch (e) { return notFound('Account', e.message) }
  const [txs, jobs] = await Promise.all([api(`/v1/txs?address=${encodeURIComponent(addr)}&limit=25`), api(`/v1/jobs?client=${encodeURIComponent(addr)}&limit=10`)])
  return `<h1>Account <span class="sub">${esc(a.address)}</span></h1>
    ${panel('Balance', kv([
      ['Address', `<span class="mono">${esc(a.address)}</span>`],
      ['Balance', aitbc(a.balance), 'account-balance'],
      ['Bonded (stake)', aitbc(a.bonded)],
      ['Unbonding', aitbc(a.unbonding)],
      ['Nonce', esc(a.nonce)],
      a.is_miner ? ['Miner', link.miner(a.address, true)] : null,
    ]))}
    ${panel('Jobs submitted', table(jobCols, jobs.jobs, 'No jobs submitted by this account.'))}
    ${panel('Transactions', table(txCols, txs.txs, 'No transactions name this account.'))}`
}

async function pageMiner (addr, ctx) {
  let m
  try { m = await api(`/v1/miners/${encodeURIComponent(addr)}`) } catch (e) { return notFound('Miner', e.message) }
  const jobs = await api(`/v1/jobs?miner=${encodeURIComponent(addr)}&limit=25`)
  const p = perf(m)
  ctx.after(() => wireCharts(view))
  return `<h1>Miner ${badge(m.active ? 'active' : 'inactive')} <span class="sub">${esc(m.address)}</span></h1>
    <div class="cards" data-testid="miner-performance">
      ${card('Tokens / s', orNa(p.tokens_per_s, 'tokens/s'), 'completed jobs, generation time', 'miner-tps')}
      ${card('First token', orNa(p.first_token_ms, 'ms'), 'mean time to first token', 'miner-ttft')}
      ${card('Success', rate(p.success_rate), `of ${esc(p.settled ?? 0)} settled jobs`, 'miner-success')}
      ${card('Failure / expiry', `${rate(p.failure_rate)} / ${rate(p.expiry_rate)}`, 'failed or rejected / expired', 'miner-failure')}
      ${card('Verification', p.verification_samples ? rate(p.verification_rate) : '<span class="muted">0 samples</span>', p.verification_samples ? `of ${esc(p.verification_samples)} sampled jobs passed` : 'no job sampled yet', 'miner-verification')}
      ${card('Earned', aitbc(m.earned), `slashed ${aitbc(m.slashed)}`, 'miner-earned')}
    </div>
    ${chartsGrid(MINER_CHARTS, m.address, 'miner-charts')}
    ${panel('Listing', kv([
      ['Address', link.account(m.address, true)],
      ['Models', (m.models || []).map(x => `<span class="mono">${esc(x)}</span>`).join(', ')],
      ['Stake', aitbc(m.stake)],
      ['Reputation', `${(m.reputation / 100).toFixed(2)}%`],
      ['Price per second', aitbc(m.price_per_second)],
      ['Capacity', `${esc(m.active_jobs)} busy of ${esc(m.capacity)}`],
      ['Jobs done', esc(m.jobs_completed)],
      ['Jobs failed / expired', `${esc(m.jobs_failed)} / ${esc(m.jobs_expired)}`],
      ['Earned', aitbc(m.earned)],
      ['Slashed', aitbc(m.slashed)],
      ['Unbonding', (m.unbonding || []).length ? m.unbonding.map(u => `${aitbc(u.amount)} at block ${link.block(u.release_height)}`).join('<br>') : '—'],
      ['Registered at', link.block(m.registered_height)],
    ]))}
    ${panel('Jobs', table(jobCols.filter(c => c.title !== 'Miner'), jobs.jobs, 'No jobs assigned to this miner yet.'))}`
}

// ---- a job followed live: /v1/ws pushes each status change; the page re-renders in place ----

const OPEN = new Set(['pending', 'assigned', 'verifying'])
const FINAL = new Set(['completed', 'failed', 'rejected', 'cancelled', 'expired'])
const RANK = { pending: 0, assigned: 1, verifying: 2 }
const rankOf = j => RANK[j.status] ?? (FINAL.has(j.status) || j.completed_at ? 3 : 2)
const isFinal = j => FINAL.has(j.status) || (!OPEN.has(j.status) && Boolean(j.completed_at))

const live = { id: null, ws: null, connected: false, pushed: new Map(), seen: new Map() }

function followJob (id) {
  if (live.id === id && live.ws) return
  stopFollowing()
  live.id = id
  let ws
  try { ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`) } catch { return }
  live.ws = ws
  ws.addEventListener('open', () => ws.send(JSON.stringify({ subscribe: id })))
  ws.addEventListener('message', (ev) => {
    let msg
    try { msg = JSON.parse(ev.data) } catch { return }
    if (msg.subscribed === id) { live.connected = true; markLive(); return }
    if (msg.job_id !== id || typeof msg.status !== 'string') return
    const had = live.pushed.get(id)
    if (!had || rankOf(msg) >= rankOf(had)) live.pushed.set(id, msg)
    showLiveJob(id)
  })
  ws.addEventListener('close', () => {
    if (live.ws !== ws) return
    live.ws = null
    live.connected = false
    markLive()
    setTimeout(() => { if (live.id === id && !live.ws && currentJobId() === id) { live.id = null; followJob(id) } }, 2000)
  })
}

function stopFollowing () {
  const ws = live.ws
  live.ws = null
  live.id = null
  live.connected = false
  if (ws) ws.close()
}

function currentJobId () {
  const m = /^#\/job\/([^/?]+)/.exec(location.hash || '')
  return m ? decodeURIComponent(m[1]) : null
}

function markLive () {
  const el = document.querySelector('[data-testid="job-progress"]')
  if (el) el.dataset.live = live.connected ? 'ws' : 'polling'
  const note = document.querySelector('[data-testid="job-live"]')
  if (note) note.textContent = live.connected ? 'live: follows the job as the chain changes it' : 'refreshes every few seconds'
}

/** The pushed job, if it is at least as far along as `j` (a page fetch may be older than a push). */
function newest (j) {
  const p = live.pushed.get(j.job_id)
  return p && rankOf(p) > rankOf(j) ? p : j
}

/** A push arrived: redraw the job page in place if it shows that job. */
function showLiveJob (id) {
  if (currentJobId() !== id) return
  const j = live.pushed.get(id)
  const shown = document.querySelector('[data-testid="job-progress"]')
  if (shown && (RANK[shown.dataset.status] ?? 3) > rankOf(j)) return
  renderSeq++ // a page fetch in flight is older than this
  const y = window.scrollY
  view.innerHTML = jobHtml(j)
  window.scrollTo(0, y)
  document.body.dataset.rendered = String(renderSeq)
}

/** Statuses this page has shown for the job, in order. */
function noteSeen (j) {
  const seen = live.seen.get(j.job_id) || []
  if (seen[seen.length - 1] !== j.status) seen.push(j.status)
  live.seen.set(j.job_id, seen)
  return seen
}

// Token stream. A miner serves a running job's tokens to the job's client only (a request signed
// by the client's key, docs/protocol.md 8.7): the explorer holds no such key, so it never reads
// one, and the step says where the tokens go. Nothing is simulated.
function tokenStreamOf (_job) { return null }

/** The job's progress: pending → assigned → streaming → verifying → outcome, each reached step with its block and time. */
function progress (j) {
  const tl = j.timeline || []
  const at = st => tl.find(t => t.status === st) || null
  const final = isFinal(j)
  const r = rankOf(j)
  const stream = tokenStreamOf(j)
  const steps = [
    { key: 'pending', label: 'pending', entry: at('pending'), state: j.status === 'pending' ? 'current' : 'done', note: j.in_block === false ? 'relayed to the node; waiting for a block' : 'waiting for a miner' },
    { key: 'assigned', label: 'assigned', entry: at('assigned'), state: j.status === 'assigned' ? 'current' : r > 1 && at('assigned') ? 'done' : final ? 'skipped' : 'todo', note: final ? 'never assigned' : 'waiting for the chain to assign a miner' },
    { key: 'streaming', label: 'streaming tokens', entry: null, state: stream ? 'current' : 'skipped', note: j.status === 'assigned' ? 'running; live tokens go to the job\'s client only' : 'live tokens go to the job\'s client only (signed requests)' },
    { key: 'verifying', label: 'verifying', entry: at('verifying'), state: j.status === 'verifying' ? 'current' : at('verifying') ? 'done' : final ? 'skipped' : 'todo', note: final ? 'not sampled for verification' : 'if sampled for verification' },
    { key: 'outcome', label: final ? j.status : 'completed or rejected', entry: final ? [...tl].reverse().find(t => t.status === j.status) || null : null, state: final ? 'done' : 'todo', note: final ? '' : 'not settled yet' },
  ]
  const seen = noteSeen(j)
  const items = steps.map(s => `<li data-step="${esc(s.key)}" data-state="${s.state}" class="${s.state} ${s.key === 'outcome' && final ? esc(j.status) : ''}">
      <div class="step">${esc(s.label)}</div>
      <div class="meta">${s.entry ? `block ${link.block(s.entry.height)} · ${time(s.entry.time)}` : esc(s.note)}</div></li>`).join('')
  return `<ol class="progress" data-testid="job-progress" data-status="${esc(j.status)}" data-seen="${esc(seen.join(' '))}" data-live="${live.connected ? 'ws' : 'polling'}">${items}</ol>`
}

async function pageJob (id, ctx) {
  let j
  try { j = await api(`/v1/jobs/${encodeURIComponent(id)}`) } catch (e) { return notFound('Job', e.message) }
  ctx.after(() => followJob(id))
  return jobHtml(newest(j))
}

/** The job's verification: whether it is checked, the sample, each verifier with its heights and part, the verdict. */
function verificationHtml (j) {
  const v = j.verification
  if (j.checked === false || j.checked === null || j.checked === undefined) {
    const why = j.miner === null ? 'decided at assignment' : 'not checked: the client accepted unverified work, or fewer than two miners serve the model'
    return `<div class="empty" data-testid="job-verification">Unverified — ${esc(why)}.</div>`
  }
  if (!v) return '<div class="empty" data-testid="job-verification">Checked: the miner has not committed to a result yet.</div>'
  const verdict = v.outcome === null
    ? `<span class="muted">under way: phase ${esc(v.phase)} since block ${link.block(v.phase_height)}</span>`
    : ({ pass: 'passed: the verifiers reproduced the result', fail: 'failed: the verifiers agreed on another result; the miner was slashed and the client refunded', 'no-majority': 'no majority: nobody could tell; the client was refunded, nobody slashed', unchecked: 'not sampled: paid unchecked' })[v.outcome] || v.outcome
  const sim = v.similarity === null || v.similarity === undefined ? '—' : `${(v.similarity / 10_000).toFixed(1)} %`
  const rows = (v.verifiers || []).map(r => `<tr data-testid="job-verifier"><td>${link.miner(r.miner, true)}</td><td>${link.block(r.assigned_height)}</td>
    <td>${r.committed ? link.block(r.committed_height) : '<span class="muted">—</span>'}</td><td>${r.revealed ? 'yes' : '<span class="muted">no</span>'}</td>
    <td>${r.outcome ? `<span class="badge ${r.outcome === 'agree' ? 'completed' : r.outcome === 'silent' ? 'expired' : 'rejected'}">${esc(r.outcome)}</span>` : '<span class="muted">—</span>'}</td>
    <td>${aitbc(r.paid)}</td><td>${r.slashed && r.slashed !== '0' ? aitbc(r.slashed) : '—'}</td></tr>`).join('')
  return `<div data-testid="job-verification">${kv([
    ['Checked', 'yes: the miner committed before anyone could read its result'],
    ['Committed', `block ${link.block(v.committed_height)}`],
    ['Sampled', v.sampled === null ? '<span class="muted">drawn in the next block</span>' : v.sampled ? 'yes: re-run by other miners of the same model digest' : 'no'],
    ['Verdict', `<span data-testid="job-verdict">${verdict}</span>`],
    ['Similarity', sim],
    ['Bill', aitbc(v.bill)],
  ])}
  ${rows ? `<table class="list"><thead><tr><th>Verifier</th><th>Drawn</th><th>Committed</th><th>Revealed</th><th>Part</th><th>Paid</th><th>Slashed</th></tr></thead><tbody>${rows}</tbody></table>` : ''}</div>`
}

function jobHtml (j) {
  const timeline = (j.timeline || []).map(t => `<li class="${esc(t.step)}"><div class="step">${esc(t.step)}</div>
      <div class="meta">block ${link.block(t.height)} · ${time(t.time)}${t.tx_hash ? ` · tx ${link.tx(t.tx_hash)}` : ' · by the chain (no tx)'}${t.miner ? ` · miner ${link.miner(t.miner)}` : ''}</div></li>`).join('')
  const secs = j.metrics ? `${(j.metrics.compute_ms / 1000).toFixed(2)} s` : '—'
  const o = j.options || {}
  const open = !isFinal(j)
  const noResult = open ? (j.sealed_result ? 'Sealed to the client until the reveal (the client reads it at once; verifiers cannot).' : 'No result yet.') : `No result: the job was ${esc(j.status)}${j.status === 'expired' && j.miner ? ' (the miner did not answer in time; its stake was slashed)' : ''}.`
  return `<h1>Job <span data-testid="job-status">${badge(j.status)}</span> <span class="sub" data-testid="job-id">${esc(j.job_id)}</span></h1>
    ${j.in_block === false ? '<div class="notice">Relayed to the node; waiting for a block.</div>' : ''}
    ${panel('Progress', progress(j), `<span class="muted" data-testid="job-live">${live.connected ? 'live: follows the job as the chain changes it' : 'refreshes every few seconds'}</span>`, 'job-progress-panel')}
    <div class="grid2">
      ${panel('Job', kv([
        ['Status', badge(j.status)],
        ['Model', `<span class="mono">${esc(j.model)}</span>`, 'job-model'],
        ['Client', link.account(j.client, true)],
        ['Miner', j.miner ? link.miner(j.miner, true) : `<span class="muted">${open ? 'not assigned yet' : 'never assigned'}</span>`, 'job-miner'],
        ['Cost', j.cost === null || j.cost === undefined ? '<span class="muted">—</span>' : aitbc(j.cost), 'job-cost'],
        ['Max fee', aitbc(j.max_fee)],
        ['Refund', aitbc(j.refund)],
        j.slashed && j.slashed !== '0' ? ['Miner slashed', aitbc(j.slashed)] : null,
        j.price_in !== null && j.price_in !== undefined ? ['Prices per million tokens', `${aitbc(j.price_in)} in · ${aitbc(j.price_out)} out`] : ['Price per second', aitbc(j.price_per_second)],
        ['Verified', j.verified === true ? 'yes' : j.verified === false ? 'no: rejected' : j.checked ? '<span class="muted">pending</span>' : '<span class="muted">unverified</span>', 'job-verified'],
        j.model_digest_used ? ['Model digest', `<span class="mono">${esc(j.model_digest_used.slice(0, 12))}</span>`] : null,
        ['Compute time', secs],
        ['Tokens', j.metrics ? `${esc(j.metrics.prompt_tokens)} prompt · ${esc(j.metrics.completion_tokens)} completion` : '—'],
        ['Options', `temperature ${esc(o.temperature ?? 'default')} · num_predict ${esc(o.num_predict ?? 'default')} · seed ${esc(o.seed ?? 'none')}`],
        ['Receipt', j.receipt_id ? `<span class="mono" data-testid="job-receipt">${esc(j.receipt_id)}</span>` : '—'],
      ]))}
      ${panel('Timeline', `<ul class="timeline" data-testid="job-timeline">${timeline}</ul>`)}
    </div>
    ${panel('Verification', verificationHtml(j), '', 'job-verification-panel')}
    ${j.kind === 'chat' && j.messages ? panel('Messages', j.messages.map(m => `<div class="msg"><b>${esc(m.role)}</b><pre class="result">${esc(m.content)}</pre></div>`).join('')) : panel('Prompt', `<pre class="result">${esc(j.prompt)}</pre>`)}
    ${panel('Result', j.error ? `<pre class="result error-text" data-testid="job-error">${esc(j.error)}</pre>` : j.result !== null && j.result !== undefined ? `<pre class="result" data-testid="job-result">${esc(j.result)}</pre>` : `<div class="empty">${noResult}</div>`)}`
}

// ---- router ----

const routes = [
  [/^#?\/?$/, (m, p, ctx) => pageHome(ctx), 'home'],
  [/^#\/blocks$/, (m, p, ctx) => listPage('Blocks', '/v1/blocks?limit=25', 'blocks', blockCols)(ctx), 'blocks'],
  [/^#\/txs$/, (m, p, ctx) => listPage('Transactions', '/v1/txs?limit=25', 'txs', txCols)(ctx), 'txs'],
  [/^#\/jobs$/, (m, p, ctx) => jobsPage(p, ctx), 'jobs'],
  [/^#\/miners$/, () => pageMiners(), 'miners'],
  [/^#\/validators$/, () => pageValidators(), 'validators'],
  [/^#\/block\/([^/]+)$/, m => pageBlock(m[1]), 'blocks'],
  [/^#\/tx\/([^/]+)$/, m => pageTx(m[1]), 'txs'],
  [/^#\/account\/([^/]+)$/, m => pageAccount(m[1]), ''],
  [/^#\/miner\/([^/]+)$/, (m, p, ctx) => pageMiner(m[1], ctx), 'miners'],
  [/^#\/job\/([^/]+)$/, (m, p, ctx) => pageJob(m[1], ctx), 'jobs'],
]

async function render (fromRefresh) {
  if (fromRefresh && paused) return
  const seq = ++renderSeq
  const hooks = []
  const ctx = { after: f => hooks.push(f) } // wiring of this page once it is in the document
  const [path, query] = (location.hash || '#/').split('?')
  const params = new URLSearchParams(query || '')
  let html
  let nav = ''
  const route = routes.find(r => r[0].test(path))
  if (!/^#\/job\//.test(path)) stopFollowing()
  try {
    if (!route) {
      html = notFound('Not found', `No page at ${path}.`)
    } else {
      nav = route[2]
      html = await route[1](path.match(route[0]), params, ctx)
    }
  } catch (e) {
    html = `<div class="notice bad">Cannot load this page: ${esc(e.message)}</div>`
  }
  if (seq !== renderSeq) return // a newer render started meanwhile
  const y = window.scrollY
  view.innerHTML = html
  for (const f of hooks) f()
  if (fromRefresh) window.scrollTo(0, y)
  document.querySelectorAll('[data-nav]').forEach(a => a.classList.toggle('active', a.dataset.nav === nav))
  document.body.dataset.page = nav || 'other'
  document.body.dataset.rendered = String(seq)
}

async function refreshStatus () {
  try {
    const h = await api('/health')
    const cls = h.node !== 'reachable' ? 'off' : h.lag > 2 ? 'lag' : ''
    statusbar.innerHTML = `<span><span class="dot ${cls}"></span>${esc(h.chain_id || 'chain')}</span>
      <span>height <b>${esc(h.indexed_height)}</b>${h.lag ? ` (node ${esc(h.node_height)}, lag ${esc(h.lag)})` : ''}</span>
      <span>node ${esc(h.node)}</span><span class="muted">refreshes every ${REFRESH_MS / 1000} s</span>`
  } catch {
    // /health answers 503 with a body when the node is down; fetch errors mean the coordinator is gone.
    statusbar.innerHTML = '<span><span class="dot off"></span>coordinator unreachable</span>'
  }
}

// ---- search ----

document.getElementById('search').addEventListener('submit', async (ev) => {
  ev.preventDefault()
  const input = document.getElementById('search-input')
  const q = input.value.trim()
  if (!q) return
  try {
    const r = await api(`/v1/search?q=${encodeURIComponent(q)}`)
    paused = false
    location.hash = `#/${r.kind}/${encodeURIComponent(r.id)}`
  } catch (e) {
    view.innerHTML = notFound('Search', `Nothing found for "${q}": ${e.message}`)
  }
})

window.addEventListener('hashchange', () => { paused = false; window.scrollTo(0, 0); render(false) })
setInterval(() => { if (!document.hidden) { render(true); refreshStatus() } }, REFRESH_MS)
render(false)
refreshStatus()
