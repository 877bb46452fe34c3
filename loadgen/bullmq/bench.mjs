// BullMQ baseline for the leadex job-queue benchmarks (issue 3).
//
//   node bench.mjs throughput --count 100000 --concurrency 256 [--remove-on-complete]
//     Adds N no-op jobs (addBulk), then starts ONE worker with the given
//     concurrency and measures the drain: first processedOn -> last finishedOn
//     (like leadex's first started_at -> last finished_at) and wall clock from
//     worker start to the N-th completion.
//   node bench.mjs delayed --count 10000 --spread-secs 60 --offset-ms 2000
//     Starts ONE worker, then adds N jobs with delays uniform in
//     [offset, offset + spread]; records processedOn - (timestamp + delay) (ms).
//
// Only the keys of this run's queue are touched (Queue.obliterate), never
// FLUSHALL. Redis: 127.0.0.1:6379 unless REDIS_HOST/REDIS_PORT say otherwise
// (the scripts keep it local).
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const args = process.argv.slice(2);
const mode = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = args[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
};
const count = Number(opt('count', mode === 'delayed' ? 10000 : 100000));
const concurrency = Number(opt('concurrency', 256));
const spreadMs = Number(opt('spread-secs', 60)) * 1000;
const offsetMs = Number(opt('offset-ms', 2000));
const timeoutMs = Number(opt('timeout-secs', 600)) * 1000;
const removeOnComplete = opt('remove-on-complete', false) === true;
const host = process.env.REDIS_HOST || '127.0.0.1';
const port = Number(process.env.REDIS_PORT || 6379);
if (host !== '127.0.0.1' && host !== 'localhost') throw new Error('only a local Redis is benchmarked');
const redisOpts = { host, port, maxRetriesPerRequest: null };
const connection = () => new IORedis(redisOpts);
const name = `leadex-issue3-${mode}-${process.pid}`;

function pct(sorted, q) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}
function dist(v) {
  const s = Float64Array.from(v).sort();
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(s.length, 1);
  return { count: s.length, min_ms: s[0] ?? 0, p50_ms: pct(s, 0.5), p90_ms: pct(s, 0.9), p99_ms: pct(s, 0.99),
           p999_ms: pct(s, 0.999), max_ms: s[s.length - 1] ?? 0, mean_ms: mean };
}

async function addAll(queue, makeOpts) {
  const chunk = 1000;
  for (let i = 0; i < count; i += chunk) {
    const jobs = [];
    for (let j = i; j < Math.min(count, i + chunk); j++) {
      const opts = makeOpts(j);
      jobs.push({ name: 'noop', data: { vertical: `bench.v${j % 10}`, delay: opts.delay || 0 }, opts });
    }
    await queue.addBulk(jobs);
  }
}

async function main() {
  const queue = new Queue(name, { connection: connection() });
  await queue.obliterate({ force: true });
  let done = 0;
  let firstProcessed = Infinity;
  let lastFinished = -Infinity;
  const late = [];
  let resolveAll;
  const all = new Promise((r) => { resolveAll = r; });
  const worker = new Worker(name, async () => {}, { connection: connection(), concurrency, autorun: false });
  worker.on('completed', (job) => {
    done++;
    firstProcessed = Math.min(firstProcessed, job.processedOn);
    lastFinished = Math.max(lastFinished, job.finishedOn);
    if (mode === 'delayed') late.push(job.processedOn - (job.timestamp + job.data.delay));
    if (done >= count) resolveAll();
  });
  worker.on('failed', (job, err) => console.error('failed', job?.id, err?.message));
  const timer = setTimeout(() => resolveAll('timeout'), timeoutMs);
  let out;
  if (mode === 'throughput') {
    const t0 = Date.now();
    await addAll(queue, () => (removeOnComplete ? { removeOnComplete: true } : {}));
    const loadSecs = (Date.now() - t0) / 1000;
    const w0 = Date.now();
    worker.run();
    const r = await all;
    const wall = (Date.now() - w0) / 1000;
    const drain = (lastFinished - firstProcessed) / 1000;
    out = { command: 'bullmq-throughput', bullmq: '6.7.0', count, done, concurrency, remove_on_complete: removeOnComplete,
            timed_out: r === 'timeout', load_secs: loadSecs, drain_secs: drain, jobs_per_sec: done / drain,
            wall_secs: wall, wall_jobs_per_sec: done / wall };
  } else if (mode === 'delayed') {
    worker.run();
    await worker.waitUntilReady();
    await addAll(queue, () => ({ delay: offsetMs + Math.floor(Math.random() * spreadMs) }));
    const r = await all;
    out = { command: 'bullmq-delayed', bullmq: '6.7.0', count, done, concurrency, timed_out: r === 'timeout',
            spread_secs: spreadMs / 1000, processed_minus_due: dist(late) };
  } else {
    throw new Error('mode: throughput | delayed');
  }
  clearTimeout(timer);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  console.log(JSON.stringify(out, null, 2));
  // The Redis clients were built here, so BullMQ does not close them.
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
