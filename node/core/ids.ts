// Identifiers derived from transaction hashes: a job is named by its submit_job tx, a receipt by
// its record_receipt tx.

/** job_ + first 16 lower-case hex digits of the submit_job tx hash. */
export function jobIdFromTxHash (hash: string): string { return 'job_' + hash.slice(0, 16).toLowerCase() }
/** receipt_ + first 16 lower-case hex digits of the record_receipt tx hash. */
export function receiptIdFromTxHash (hash: string): string { return 'receipt_' + hash.slice(0, 16).toLowerCase() }
export const JOB_ID_RE = /^job_[0-9a-f]{16}$/
export const RECEIPT_ID_RE = /^receipt_[0-9a-f]{16}$/
