// Prints how the verification similarity (node/core/similarity.ts) scores kinds of result pairs,
// for docs/protocol.md ("Verification: the threshold"). Synthetic pairs built from two fixed
// English answers; the figures are what the default verification_threshold rests on, with the
// published measurement cited there. Run: npx tsx scripts/similarity-calibration.ts
import { similarityPpm } from '../node/core/similarity.ts'

const A = `Machine learning is a branch of artificial intelligence in which computers learn patterns from data instead of following explicitly programmed rules. A model is trained on examples: for supervised learning, inputs paired with the right outputs; for unsupervised learning, raw data whose structure the model discovers on its own. During training an optimisation algorithm such as gradient descent adjusts the model's parameters to reduce its error on the examples. Once trained, the model can make predictions about new data it has never seen. Common applications include spam filtering, image recognition, speech recognition, recommendation systems and medical diagnosis. Deep learning, a subfield built on neural networks with many layers, has driven much of the recent progress, especially in language and vision.`
const B = `Machine learning lets software improve at a task by studying examples rather than by being told every step. Engineers collect a dataset, choose a model family such as decision trees or neural networks, and fit the model so that its outputs match the examples as closely as possible. The fitted model is then tested on held-out data to check that it generalises. Typical uses are detecting fraud, translating text, ranking search results and forecasting demand. Neural networks with many layers, known as deep learning, are behind today's chatbots and image generators, but simpler methods like linear regression remain widely used because they are fast and easy to interpret.`

const words = (s: string): string[] => s.split(' ')
const tokens = (s: string): number => Math.round(words(s).length * 1.3)
const score = (x: string, y: string, sameCount = false): number => similarityPpm({ text: x, completionTokens: tokens(x) }, { text: y, completionTokens: sameCount ? tokens(x) : tokens(y) }) / 10_000

/** x's first fraction f of words, then y's words from the same position on (a fork: same prompt, another continuation). */
function fork (x: string, y: string, f: number): string {
  const wx = words(x); const wy = words(y)
  const k = Math.round(wx.length * f)
  return [...wx.slice(0, k), ...wy.slice(Math.round(wy.length * f))].join(' ')
}
/** x with every other word replaced by y's word at that place (shares half its words, in order). */
function halfWords (x: string, y: string): string {
  const wy = words(y)
  return words(x).map((w, i) => i % 2 === 0 ? w : (wy[i % wy.length])).join(' ')
}
function shuffled (x: string): string {
  const w = words(x)
  return w.map((_, i) => w[(i * 7919) % w.length]).join(' ')
}

const rows: Array<[string, number]> = [
  ['identical', score(A, A)],
  ['identical but case and whitespace', score(A, A.toUpperCase().replace(/ /g, '  \n'), true)],
  ['one word changed', score(A, A.replace('gradient descent', 'stochastic gradient descent'))],
  ['fork after 90% of the text', score(A, fork(A, B, 0.9))],
  ['fork after 75%', score(A, fork(A, B, 0.75))],
  ['fork after 50%', score(A, fork(A, B, 0.5))],
  ['fork after 25%', score(A, fork(A, B, 0.25))],
  ['another answer to the same question', score(A, B)],
  ['shares half its words, in place', score(A, halfWords(A, B))],
  ['the same words shuffled', score(A, shuffled(A))],
  ['the first half only (a truncated run)', score(A, words(A).slice(0, words(A).length / 2).join(' '))],
  ['filler ("lorem ipsum" of the same length)', score(A, 'lorem ipsum dolor sit amet '.repeat(Math.ceil(A.length / 27)).slice(0, A.length))],
  ['short: "Paris" against "Paris."', score('Paris', 'Paris.')],
]
for (const [name, s] of rows) console.log(`${s.toFixed(1).padStart(6)} %  ${name}`)
