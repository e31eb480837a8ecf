// Segment's Node.js library, driven by the tests: `node analytics_node.mjs HOST WRITE_KEY`
// reads a JSON list of [method, params] from stdin, makes those calls, flushes, and prints
// {"errors": [...]}: what the library's own error event reported.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey] = process.argv.slice(2)
let input = ''
for await (const chunk of process.stdin) input += chunk

const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 20, flushInterval: 50, maxRetries: 3 })
const errors = []
analytics.on('error', (error) => errors.push({ code: error.code, reason: String(error.reason) }))
for (const [method, params] of JSON.parse(input)) analytics[method](params)
await analytics.closeAndFlush({ timeout: 20000 })
console.log(JSON.stringify({ errors }))
