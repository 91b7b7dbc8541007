// The client keyring: ed25519 keys under $AITBC_HOME/keyring (default ~/.aitbc), one file a key,
// mode 0600. Seeds are read only to sign; they are printed only by `keys export`.
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { homedir } from 'node:os'
import { SigningKey, isAddress } from '../node/core/crypto.ts'
import { randomSeed } from '../node/config.ts'

export function aitbcHome (): string {
  const h = process.env.AITBC_HOME
  return h !== undefined && h !== '' ? h : join(homedir(), '.aitbc')
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export class Keyring {
  readonly dir: string
  constructor (readonly home = aitbcHome()) { this.dir = join(home, 'keyring') }

  private file (name: string): string {
    if (!NAME_RE.test(name)) throw new Error(`"${name}" is not a key name (letters, digits, ".", "_", "-"; up to 64)`)
    return join(this.dir, `${name}.json`)
  }

  has (name: string): boolean { return existsSync(this.file(name)) }

  add (name: string, seed: Uint8Array = randomSeed()): SigningKey {
    const f = this.file(name)
    if (existsSync(f)) throw new Error(`key "${name}" already exists`)
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const key = new SigningKey(seed)
    writeFileSync(f, JSON.stringify({ name, address: key.address, pub_key: Buffer.from(key.publicKey).toString('hex'), seed: Buffer.from(seed).toString('hex') }, null, 2) + '\n', { mode: 0o600 })
    chmodSync(f, 0o600)
    return key
  }

  get (name: string): SigningKey {
    const f = this.file(name)
    if (!existsSync(f)) throw new Error(`no key named "${name}" in ${this.dir} (see "aitbc keys list")`)
    const doc = JSON.parse(readFileSync(f, 'utf8'))
    return new SigningKey(new Uint8Array(Buffer.from(String(doc.seed), 'hex')))
  }

  exportSeed (name: string): string {
    const doc = JSON.parse(readFileSync(this.file(name), 'utf8'))
    return String(doc.seed)
  }

  list (): Array<{ name: string, address: string }> {
    if (!existsSync(this.dir)) return []
    return readdirSync(this.dir).filter(f => f.endsWith('.json')).sort().map(f => {
      const doc = JSON.parse(readFileSync(join(this.dir, f), 'utf8'))
      return { name: String(doc.name), address: String(doc.address) }
    })
  }

  /** NAME from the keyring, or an address as it is. */
  resolveAddress (nameOrAddress: string): string {
    if (isAddress(nameOrAddress)) return nameOrAddress
    return this.get(nameOrAddress).address
  }

  private settingsFile (): string { return join(this.home, 'config.json') }
  settings (): { default_key?: string, node?: string } {
    const f = this.settingsFile()
    return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : {}
  }

  setDefault (name: string): void {
    this.get(name)
    mkdirSync(this.home, { recursive: true, mode: 0o700 })
    writeFileSync(this.settingsFile(), JSON.stringify({ ...this.settings(), default_key: name }, null, 2) + '\n')
  }

  defaultKey (): string | undefined { return this.settings().default_key }
}
