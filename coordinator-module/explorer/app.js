// The AITBC block explorer: a small single-page app over the coordinator's REST API (same
// origin, no CDN, no build step). Hash routes: #/, #/blocks, #/txs, #/jobs, #/miners,
// #/validators, #/block/H, #/tx/HASH, #/account/ADDR, #/miner/ADDR, #/job/ID. The open page
// refreshes itself every few seconds.
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

const minerCols = [
  { title: 'Miner', cell: m => link.miner(m.address) },
  { title: 'Models', wrap: true, cell: m => (m.models || []).map(x => `<span class="mono">${esc(x)}</span>`).join(', ') },
  { title: 'Stake', num: true, cell: m => aitbc(m.stake) },
  { title: 'Reputation', num: true, cell: m => `${(m.reputation / 100).toFixed(2)}%` },
  { title: 'Price / s', num: true, cell: m => aitbc(m.price_per_second) },
  { title: 'Jobs done', num: true, cell: m => esc(m.jobs_completed) },
  { title: 'Failed / expired', num: true, cell: m => `${esc(m.jobs_failed)} / ${esc(m.jobs_expired)}` },
  { title: 'Busy', num: true, cell: m => `${esc(m.active_jobs)} / ${esc(m.capacity)}` },
  { title: 'State', cell: m => badge(m.active ? 'active' : 'inactive') },
]

const validatorCols = [
  { title: 'Name', cell: v => esc(v.name || '—') },
  { title: 'Address', cell: v => `<span class="mono">${esc(v.address)}</span>` },
  { title: 'Account', cell: v => link.account(v.account) },
  { title: 'Voting power', num: true, cell: v => esc(v.voting_power) },
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

async function pageHome () {
  const [stats, blocks, txs, jobs, miners, vals] = await Promise.all([
    api('/v1/stats'), api('/v1/blocks?limit=10'), api('/v1/txs?limit=10'), api('/v1/jobs?limit=10'), api('/v1/miners'),
    api('/v1/validators').catch(() => ({ validators: [] })),
  ])
  return `${figures(stats)}
    <div class="grid2">
      ${panel('Latest blocks', table(blockCols, blocks.blocks), '<a href="#/blocks">All blocks →</a>', 'latest-blocks')}
      ${panel('Latest transactions', table(txCols.filter(c => c.title !== 'Block' && c.title !== 'From'), txs.txs), '<a href="#/txs">All transactions →</a>', 'latest-txs')}
    </div>
    ${panel('Jobs', table(jobCols, jobs.jobs, 'No jobs yet.'), '<a href="#/jobs">All jobs →</a>', 'jobs')}
    ${panel('Miners', table(minerCols, miners.miners, 'No miners registered.'), '', 'miners')}
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
  return `<h1>Miners</h1>${panel(`${esc(r.total)} registered`, table(minerCols, r.miners, 'No miners registered.'))}`
}

async function pageValidators () {
  const r = await api('/v1/validators')
  return `<h1>Validators</h1>${panel(`${esc(r.total)} validators at height ${esc(r.block_height)}`, table(validatorCols, r.validators))}`
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

async function pageMiner (addr) {
  let m
  try { m = await api(`/v1/miners/${encodeURIComponent(addr)}`) } catch (e) { return notFound('Miner', e.message) }
  const jobs = await api(`/v1/jobs?miner=${encodeURIComponent(addr)}&limit=25`)
  return `<h1>Miner ${badge(m.active ? 'active' : 'inactive')} <span class="sub">${esc(m.address)}</span></h1>
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

async function pageJob (id) {
  let j
  try { j = await api(`/v1/jobs/${encodeURIComponent(id)}`) } catch (e) { return notFound('Job', e.message) }
  const timeline = (j.timeline || []).map(t => `<li class="${esc(t.step)}"><div class="step">${esc(t.step)}</div>
      <div class="meta">block ${link.block(t.height)} · ${time(t.time)}${t.tx_hash ? ` · tx ${link.tx(t.tx_hash)}` : ' · by the chain (no tx)'}${t.miner ? ` · miner ${link.miner(t.miner)}` : ''}</div></li>`).join('')
  const secs = j.metrics ? `${(j.metrics.compute_ms / 1000).toFixed(2)} s` : '—'
  const o = j.options || {}
  const open = j.status === 'pending' || j.status === 'assigned'
  const noResult = open ? 'No result yet.' : `No result: the job was ${esc(j.status)}${j.status === 'expired' && j.miner ? ' (the miner did not answer in time; its stake was slashed)' : ''}.`
  return `<h1>Job <span data-testid="job-status">${badge(j.status)}</span> <span class="sub" data-testid="job-id">${esc(j.job_id)}</span></h1>
    ${j.in_block === false ? '<div class="notice">Relayed to the node; waiting for a block.</div>' : ''}
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
        ['Price per second', aitbc(j.price_per_second)],
        ['Compute time', secs],
        ['Tokens', j.metrics ? `${esc(j.metrics.prompt_tokens)} prompt · ${esc(j.metrics.completion_tokens)} completion` : '—'],
        ['Options', `temperature ${esc(o.temperature ?? 'default')} · num_predict ${esc(o.num_predict ?? 'default')} · seed ${esc(o.seed ?? 'none')}`],
        ['Receipt', j.receipt_id ? `<span class="mono" data-testid="job-receipt">${esc(j.receipt_id)}</span>` : '—'],
      ]))}
      ${panel('Timeline', `<ul class="timeline" data-testid="job-timeline">${timeline}</ul>`)}
    </div>
    ${panel('Prompt', `<pre class="result">${esc(j.prompt)}</pre>`)}
    ${panel('Result', j.error ? `<pre class="result error-text" data-testid="job-error">${esc(j.error)}</pre>` : j.result !== null && j.result !== undefined ? `<pre class="result" data-testid="job-result">${esc(j.result)}</pre>` : `<div class="empty">${noResult}</div>`)}`
}

// ---- router ----

const routes = [
  [/^#?\/?$/, () => pageHome(), 'home'],
  [/^#\/blocks$/, (m, p, ctx) => listPage('Blocks', '/v1/blocks?limit=25', 'blocks', blockCols)(ctx), 'blocks'],
  [/^#\/txs$/, (m, p, ctx) => listPage('Transactions', '/v1/txs?limit=25', 'txs', txCols)(ctx), 'txs'],
  [/^#\/jobs$/, (m, p, ctx) => jobsPage(p, ctx), 'jobs'],
  [/^#\/miners$/, () => pageMiners(), 'miners'],
  [/^#\/validators$/, () => pageValidators(), 'validators'],
  [/^#\/block\/([^/]+)$/, m => pageBlock(m[1]), 'blocks'],
  [/^#\/tx\/([^/]+)$/, m => pageTx(m[1]), 'txs'],
  [/^#\/account\/([^/]+)$/, m => pageAccount(m[1]), ''],
  [/^#\/miner\/([^/]+)$/, m => pageMiner(m[1]), 'miners'],
  [/^#\/job\/([^/]+)$/, m => pageJob(m[1]), 'jobs'],
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
