import Dispatch
import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// A worker process's engine, and the place to start reading the path of a job:
///
///  1. `fetchLoop` waits for a reason to look for work (a NOTIFY from an enqueue, the poll
///     timer, stored results that freed slots) and claims up to its free slots in one
///     statement per queue (`fetch_jobs.sql`).
///  2. `start` runs each job in its own task through `JobExecutor`, which decodes the args,
///     calls the handler under the kind's timeout and decides the outcome.
///  3. The outcome goes to the `Completer`, which writes results in batches
///     (`complete_jobs.sql`, `retry_jobs.sql`, `fail_jobs.sql`, `snooze_jobs.sql`). A slot
///     is free again once its result is stored, so a slow database slows fetching down
///     instead of piling up claimed jobs. A batch of completions only usually carries the
///     next fetch along (`complete_and_fetch_jobs.sql`, `planFetchAlong`): one round trip
///     and one commit for both.
///
/// Beside it: the heartbeat renews the leases of running jobs, and maintenance rescues
/// jobs whose lease ran out (their worker died) and prunes old finished jobs.
///
/// Each claim is a run with its own id (`run_id`), and every statement for a run names
/// it. The heartbeat learns which runs this worker still holds; a run it no longer holds
/// (its lease ran out and it was rescued, an operator cancelled it, another worker runs
/// the job now) is abandoned: its task is cancelled, its slot freed, its result dropped.
///
/// Shutdown (SIGTERM/SIGINT through ServiceLifecycle): stop fetching, let running jobs
/// finish, hand the rest back to the queue, flush every result, all within the grace
/// period whatever the database does (what could not be stored is left to lease expiry
/// and rescue, which is safe: the jobs run again).
public final class WorkerPool: Service, Sendable {
    public let options: WorkerOptions
    private let pool: ConnectionPool
    private let registry: JobRegistry
    private let logger: Logger
    private let executor: JobExecutor
    private let completer: Completer
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wakeupContinuation: AsyncStream<Void>.Continuation
    private let startGate: (@Sendable () async -> Void)?
    private let stopSignal: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation
    /// Kinds whose handlers wait for their limit slot (`JobKindOptions.standby`).
    private let standbyKinds: [String]

    /// A run is (job id, run id): after a rescue this very worker may fetch the same job
    /// again while its stale run still winds down, and the two must not be confused. (The
    /// attempt does not tell them apart: a snooze or a hand-back gives it back.)
    struct RunKey: Hashable {
        let id: Int64
        let runID: Int64
    }

    struct State {
        var running: [RunKey: RunningJob] = [:]
        /// Runs whose handler returned but whose result the completer has not stored yet.
        /// They still hold their slot: fetching past them would pile up `running` rows
        /// faster than results are written whenever the database is slow.
        var unstored = 0
        /// Slots a fetch in flight may fill: the fetch loop's, or one sent along with a batch
        /// of completions (`planFetchAlong`). Counted as taken, so the two never claim the
        /// same free slots.
        var fetchingSlots = 0
        /// Runs that gave their limit slot back (`JobContext.releaseLimitSlot`), for the
        /// next fetch to mark.
        var releasedLimitSlots: [RunKey] = []
        var stopping = false
        /// The timer set for the turn of a rate window (`scheduleWindowWake`).
        var windowWake: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
        /// When shutdown began; the grace period counts from here.
        var shutdownStartedAt: ContinuousClock.Instant?
        /// Jobs a fetch along claimed after shutdown began, on their way back to the queue
        /// (`handBack`); shutdown waits for them before the worker says it stopped.
        var handingBack: [Task<Void, Never>] = []
        /// Standby runs still waiting for a limit slot (queue migration 013), and per limit
        /// key in the queue's order (priority, then id; the first gets the next slot).
        var standby: [RunKey: StandbyRun] = [:]
        var standbyOrder: [String: [RunKey]] = [:]
        /// Standby runs that gave up waiting: their result is a snooze of 0 s.
        var standbyGaveUp: Set<RunKey> = []
        /// Runs that gave their slot back already (a second `releaseLimitSlot()` is a no-op).
        var slotGiven: Set<RunKey> = []
        /// Hand-overs whose swap statement has not committed yet, by the run that gave the
        /// slot: its result is stored only after it. `lastSwap` keeps them in order.
        var swaps: [RunKey: Task<Void, Never>] = [:]
        var lastSwap: Task<Void, Never>?
    }

    struct RunningJob {
        let task: Task<Void, Never>
        /// The limit key of a run of a kind with standby runs (`JobKindOptions.standby`), else nil.
        var standbyKey: String? = nil
        /// For such a run of a serial lane, the lane's next job, read when the run starts
        /// (`readLaneSuccessor`): its slot may wait for that job (`limitSlotReleased`).
        var laneSuccessor: LaneSuccessor? = nil
    }

    /// Where `end` is with a run: waiting for the swap of the slot it handed over, or ended
    /// in the state (`State.endRun`).
    enum EndStep {
        case awaitSwap(Task<Void, Never>)
        case ended(ours: Bool, gaveUp: Bool, waiter: CheckedContinuation<Void, any Error>?)
    }

    /// The lane's next job as the run's start found it: read beside the run's own loads, so
    /// that the decision at the provider's answer is made in memory, not after a round trip
    /// to the database on the way from the answer to the next request.
    enum LaneSuccessor {
        case reading(Task<QueueOrder?, Never>)
        case known(QueueOrder?)
    }

    struct StandbyRun {
        let limitKey: String
        let since: ContinuousClock.Instant
        /// Where the job stands in the queue's order (`fetch_jobs`: priority, run_at, id; a
        /// claimed job's run_at is not at hand, and within a priority the id nearly always
        /// agrees with it).
        let order: QueueOrder
        var waiter: CheckedContinuation<Void, any Error>?
    }

    /// `startGate`, when given, is awaited once the worker is connected and listening and
    /// before it fetches anything: a benchmark starts many workers, waits until each is
    /// ready, and releases them together, so start-up is not part of the measured time.
    public init(
        pool: ConnectionPool, registry: JobRegistry, options: WorkerOptions, logger: Logger,
        startGate: (@Sendable () async -> Void)? = nil
    ) {
        precondition(options.concurrency > 0, "concurrency must be at least 1")
        self.startGate = startGate
        self.pool = pool
        self.registry = registry
        self.options = options
        var logger = logger
        logger[metadataKey: "worker"] = "\(options.workerID)"
        self.logger = logger
        (wakeups, wakeupContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (stopSignal, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // The executor and completer are built before `self` is whole, so they reach back
        // through boxes.
        let released = CallbackBox<RunKey>()
        let waitPool = WeakBox<WorkerPool>()
        var executor = JobExecutor(
            registry: registry, pool: pool, workerID: options.workerID, logger: logger, maxRateLimited: options.maxRateLimited,
            limitSlotReleased: { key in released.call(key) })
        executor.limitSlotWait = { key in try await waitPool.value?.waitForLimitSlot(key) }
        self.executor = executor
        self.standbyKinds = registry.kinds.filter { registry.entry(for: $0)?.options.standby == true }
        let wake = CallbackBox<Int>()
        let fetchAlong = Completer.FetchAlong(
            plan: { completions in waitPool.value?.planFetchAlong(completions: completions) },
            done: { plan, rows in waitPool.value?.fetchedAlong(plan, rows: rows) })
        self.completer = Completer(pool: pool, logger: logger, workerID: options.workerID, fetchAlong: fetchAlong) { stored in
            wake.call(stored)
        }
        wake.set { [weak self] stored in
            self?.state.withLock { $0.unstored -= stored }
            self?.wake() // slots are free, and serial successors may be runnable now
        }
        released.set { [weak self] key in self?.limitSlotReleased(key) }
        waitPool.value = self
    }

    /// Runs until graceful shutdown (or cancellation), then shuts down as described above.
    public func run() async throws {
        try await registerKinds()
        let listener = try await Listener(url: pool.url, channels: ["ledgersync_jobs"], logger: logger)
        if let startGate { await startGate() }
        logger.info(
            "worker started",
            metadata: [
                "queues": "\(options.queues.joined(separator: ","))", "concurrency": "\(options.concurrency)",
                "kinds": "\(registry.kinds.joined(separator: ","))",
            ])
        // Unstructured tasks, not a task group: a group waits for every child, and a child
        // stuck in a database call (libpq sees no cancellation) would hold the shutdown
        // past its grace period. Each is waited for with a deadline instead.
        let completing = Task { await self.completer.run() }
        let background = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.forwardNotifications(from: listener) }
                group.addTask { await self.pollTimer() }
                group.addTask { await self.heartbeatLoop() }
                group.addTask { await self.maintenanceLoop() }
            }
        }
        let fetching = Task { await self.fetchLoop() }
        wake() // look for work that was waiting before we started
        await withGracefulShutdownHandler {
            // Ends at the stop signal, or when this task is cancelled.
            for await _ in stopSignal { break }
        } onGracefulShutdown: {
            self.stopFetching()
        }
        stopFetching() // when cancelled rather than signalled

        // The whole shutdown fits in the grace period: running jobs get all of it but a
        // reserve, in which the rest are handed back and the last results stored.
        let started = state.withLock { $0.shutdownStartedAt } ?? .now
        let deadline = started + options.gracePeriod
        let reserve = min(options.gracePeriod / 4, .seconds(5))
        let jobsDeadline = deadline - reserve
        if !(await bounded(until: jobsDeadline, { await fetching.value })) {
            logger.warning("a fetch was still waiting for the database at shutdown; not waiting for it")
        }
        // A fetch along may be in flight in the completer, planned before `stopping` was set.
        // Its jobs are started (and so waited for below) or handed back before its slots are
        // unreserved, so once none are reserved, every job this worker claimed is accounted for.
        while ContinuousClock.now < jobsDeadline, state.withLock({ $0.fetchingSlots > 0 }) {
            await pause(.milliseconds(5))
        }
        await finishRunningJobs(until: jobsDeadline, handBackBy: deadline - reserve / 2)
        let handingBack = state.withLock { $0.handingBack }
        if !handingBack.isEmpty, !(await bounded(until: deadline - reserve / 2, { for task in handingBack { await task.value } })) {
            logger.error("could not hand back jobs claimed as shutdown began before the shutdown deadline; their leases will run out")
        }
        let stored = await completer.finish(deadline: deadline)
        listener.stop()
        background.cancel()
        if stored {
            _ = await bounded(until: deadline) { await completing.value }
        }
        _ = await bounded(until: deadline) { await background.value }
        logger.info("worker stopped")
    }

    // MARK: - 1. Fetch

    private func fetchLoop() async {
        var failures = 0
        for await _ in wakeups {
            let work = state.withLock { state -> (free: Int, released: [RunKey])? in
                if state.stopping { return nil }
                let released = state.releasedLimitSlots
                state.releasedLimitSlots = []
                // A freed limit slot is worth a fetch for whatever is free: it is the
                // account's capacity, not this worker's, that sits idle until then.
                let free = released.isEmpty ? state.slotsWorthFetching(options.concurrency) : state.freeSlots(options.concurrency)
                state.fetchingSlots += max(free, 0)
                return (max(free, 0), released)
            }
            guard let work else { break }
            // With no slot free, a fetch still runs to hand released limit slots back.
            guard work.free > 0 || !work.released.isEmpty else {
                state.withLock { $0.fetchingSlots -= work.free }
                continue
            }
            var reserved = work.free
            do {
                let fetched = try await fetch(limit: work.free, released: work.released)
                for job in fetched { start(job) }
                state.withLock { $0.fetchingSlots -= reserved }
                reserved = 0
                for job in try await fetchStandby() { start(job, standby: true) }
                failures = 0
            } catch {
                // Not marked: those runs keep their slots until their results are stored.
                state.withLock {
                    $0.fetchingSlots -= reserved
                    $0.releasedLimitSlots.insert(contentsOf: work.released, at: 0)
                }
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    logger.error("fetch failed; will retry", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
                // The poll timer wakes us again; don't spin while the database is away.
                try? await Task.sleep(for: min(options.pollInterval, .seconds(1)))
            }
        }
    }

    /// Claims up to `limit` jobs, asking each queue in turn for the slots still free. The
    /// first call also marks the runs in `released` as having given their limit slot back.
    private func fetch(limit: Int, released: [RunKey]) async throws -> [Job] {
        try await pool.withConnection { connection in
            var jobs: [Job] = []
            var released = released
            var windowWait: Double?
            for (index, queue) in options.queues.enumerated() where index == 0 || jobs.count < limit {
                let rows = try await connection.query(
                    QueueSQL.fetchJobs,
                    [options.workerID, queue, limit - jobs.count, options.lease.seconds, released.map(\.id), released.map(\.runID)],
                    prepare: true
                ).rows
                let claimed = try Self.readFetched(rows)
                jobs += claimed.jobs
                if let wait = claimed.windowWait { windowWait = min(windowWait ?? wait, wait) }
                released = []
            }
            if let windowWait { scheduleWindowWake(in: windowWait) }
            return jobs
        }
    }

    /// The jobs in a fetch's rows (`fetch_jobs.sql`), and the earliest wait of a row without
    /// a job: a key blocked by its rate windows has a start again in this many seconds
    /// (queue migration 010).
    private static func readFetched(_ rows: [Row]) throws -> (jobs: [Job], windowWait: Double?) {
        var jobs: [Job] = []
        var windowWait: Double?
        for row in rows {
            if let wait = try row.decodeIfPresent("window_wait_seconds", as: Double.self) {
                windowWait = min(windowWait ?? wait, wait)
            } else {
                jobs.append(try Job(row: row))
            }
        }
        return (jobs, windowWait)
    }

    /// A fetch to send along with `completions` completions the completer is about to
    /// write (`Completer.FetchAlong`), for the slots free once they are stored, by the rule
    /// of the fetch loop (`State.slotsWorthFetching`); nil when that is no fetch, or when
    /// shutting down. It asks the first queue only: the store's wake-up runs the fetch loop
    /// afterwards, which asks the others for whatever is still free.
    func planFetchAlong(completions: Int) -> Completer.FetchAlong.Plan? {
        state.withLock { state -> Completer.FetchAlong.Plan? in
            guard !state.stopping, let queue = options.queues.first else { return nil }
            let free = state.freeSlots(options.concurrency) + completions
            let unstoredAfter = state.unstored - completions
            guard free > 0, unstoredAfter <= 0 || free >= (options.concurrency + 1) / 2 else { return nil }
            state.fetchingSlots += free
            return Completer.FetchAlong.Plan(workerID: options.workerID, queue: queue, limit: free, leaseSeconds: options.lease.seconds)
        }
    }

    /// The answer to a fetch sent along with completions: its jobs start (or, when shutdown
    /// began meanwhile, go back to the queue), and its slots are no longer reserved. Rows that
    /// cannot be read leave their jobs to lease expiry and rescue, as a failed fetch does; the
    /// completions were stored all the same.
    func fetchedAlong(_ plan: Completer.FetchAlong.Plan, rows: [Row]?) {
        defer { state.withLock { $0.fetchingSlots -= plan.limit } }
        guard let rows else { return }
        let claimed: (jobs: [Job], windowWait: Double?)
        do {
            claimed = try Self.readFetched(rows)
        } catch {
            logger.error(
                "could not read the jobs fetched along with stored results; their leases will run out and they will be rescued",
                metadata: ["error": "\(error)"])
            return
        }
        if let wait = claimed.windowWait { scheduleWindowWake(in: wait) }
        guard !claimed.jobs.isEmpty else { return }
        if state.withLock({ $0.stopping }) {
            handBack(claimed.jobs.map { RunKey(id: $0.id, runID: $0.runID) })
        } else {
            for job in claimed.jobs { start(job) }
        }
    }

    /// Jobs claimed as shutdown began, returned to the queue at once (best effort: if the
    /// database is away, their leases run out and they are rescued).
    private func handBack(_ runs: [RunKey]) {
        let task = Task { [pool, logger] in
            do {
                try await pool.query(QueueSQL.releaseJobs, [runs.map(\.id), runs.map(\.runID), false])
            } catch {
                logger.warning(
                    "could not hand back jobs claimed as shutdown began; their leases will run out and they will be rescued",
                    metadata: ["error": "\(error)", "jobs": "\(runs.count)"])
            }
        }
        state.withLock { $0.handingBack.append(task) }
    }

    // MARK: - 2. Run

    private func start(_ job: Job, standby: Bool = false) {
        let key = RunKey(id: job.id, runID: job.runID)
        let standbyKey = job.limitKey.flatMap { standbyKinds.contains(job.kind) ? $0 : nil }
        let laneRead = standbyKey.flatMap { limitKey in job.serialKey.map { readLaneSuccessor(of: key, serialKey: $0, limitKey: limitKey) }
        }
        state.withLock { state in
            if standby, let limitKey = job.limitKey {
                state.addStandby(key, StandbyRun(limitKey: limitKey, since: .now, order: QueueOrder(priority: job.priority, id: job.id)))
            }
            state.running[key] = RunningJob(
                task: Task {
                    // Nil when the run's deadline ended it first (`runTimedOut`).
                    guard let result = await self.executor.execute(job, expired: { self.runTimedOut(key, job: job, result: $0) }) else {
                        return
                    }
                    await self.end(key, job: job, result: result)
                }, standbyKey: standbyKey, laneSuccessor: laneRead.map { .reading($0) })
        }
        if standby { schedulePromotion(after: options.standbyPromoteAfter) }
    }

    /// The run's deadline passed (`JobExecutor.execute`): its handler is cancelled, and the
    /// run ends now with the timed-out result whatever the handler does, so its slot comes
    /// back even if the handler never returns.
    private func runTimedOut(_ key: RunKey, job: Job, result: JobExecutor.Result) {
        state.withLock { $0.running[key]?.task }?.cancel()
        Task { await self.end(key, job: job, result: result) }
    }

    /// Ends a run: its result goes to the completer, after the swap of a limit slot it handed
    /// over. A run abandoned meanwhile (lost lease, or handed back at shutdown) is no longer
    /// in `running`: its result is not ours to store.
    ///
    /// One lock when the run handed no slot over (nearly always): a fetched batch of short
    /// jobs ends all at once, and three locks per run here were the worker's most contended
    /// spot in a drain's profile.
    private func end(_ key: RunKey, job: Job, result: JobExecutor.Result) async {
        var step = state.withLock { state -> EndStep in
            if let swap = state.swaps.removeValue(forKey: key) { return .awaitSwap(swap) }
            return state.endRun(key)
        }
        if case .awaitSwap(let swap) = step {
            // A slot this run handed over is recorded before its result is stored.
            await swap.value
            step = state.withLock { $0.endRun(key) }
        }
        guard case .ended(let ours, let gaveUp, let waiter) = step else { return }
        waiter?.resume(throwing: CancellationError())
        guard ours else {
            logger.info("result of an abandoned run dropped", metadata: ["job": "\(job.id)", "run": "\(job.runID)", "kind": "\(job.kind)"])
            return
        }
        // A standby run that gave up goes back to the queue, whatever its handler made of
        // that (it never had a slot, so it did not do its work).
        let result = gaveUp && result.outcome != .complete ? JobExecutor.Result(outcome: .snooze(delaySeconds: 0)) : result
        completer.add(job: job, outcome: result.outcome, rateLimitedSeconds: result.rateLimitedSeconds)
    }

    /// Reads the lane's next job for a run that starts (`LaneSuccessor`). A job enqueued into
    /// the lane after this read is not seen: the run then hands its slot over as a run
    /// without a successor does, and that job waits for a slot like any other. Only the
    /// order of the hand-over depends on the read, never the limit.
    private func readLaneSuccessor(of key: RunKey, serialKey: String, limitKey: String) -> Task<QueueOrder?, Never> {
        Task { [weak self] () -> QueueOrder? in
            guard let self else { return nil }
            var successor: QueueOrder?
            do {
                if let row = try await pool.query(QueueSQL.laneSuccessor, [serialKey, limitKey], prepare: true).rows.first {
                    successor = QueueOrder(priority: try row.decode("priority"), id: try row.decode("id"))
                }
            } catch {
                logger.warning("could not read a serial lane's next job", metadata: ["error": "\(error)"])
            }
            // (A run that ended meanwhile is not in `running`: nothing to note.)
            state.withLock { $0.running[key]?.laneSuccessor = .known(successor) }
            return successor
        }
    }

    // MARK: - Standby runs (queue migration 013)

    /// Claims standby runs for the limited keys this worker holds slots of: per key as many
    /// as it has runs holding a slot, less those already waiting. They take no slot of the
    /// worker (`State.freeSlots`); one per holder keeps them to at most `concurrency`.
    private func fetchStandby() async throws -> [Job] {
        guard !standbyKinds.isEmpty else { return [] }
        let wanted = state.withLock { state -> [(key: String, count: Int)] in
            guard !state.stopping else { return [] }
            var free = options.concurrency - state.standby.count
            guard free > 0 else { return [] }
            var holders: [String: Int] = [:]
            for (key, run) in state.running {
                guard let limitKey = run.standbyKey, state.standby[key] == nil, !state.slotGiven.contains(key) else { continue }
                holders[limitKey, default: 0] += 1
            }
            var wanted: [(key: String, count: Int)] = []
            for (limitKey, holding) in holders.sorted(by: { $0.key < $1.key }) {
                let count = min(holding - (state.standbyOrder[limitKey]?.count ?? 0), free)
                guard count > 0 else { continue }
                wanted.append((limitKey, count))
                free -= count
            }
            return wanted
        }
        guard !wanted.isEmpty else { return [] }
        return try await pool.withConnection { connection in
            var jobs: [Job] = []
            var left = Dictionary(uniqueKeysWithValues: wanted.map { ($0.key, $0.count) })
            for queue in options.queues {
                let keys = left.filter { $0.value > 0 }.sorted { $0.key < $1.key }
                guard !keys.isEmpty else { break }
                let rows = try await connection.query(
                    QueueSQL.fetchStandby,
                    [options.workerID, queue, standbyKinds, keys.map(\.key), keys.map(\.value), options.lease.seconds], prepare: true
                ).rows
                for row in rows {
                    let job = try Job(row: row)
                    jobs.append(job)
                    if let key = job.limitKey { left[key, default: 0] -= 1 }
                }
            }
            return jobs
        }
    }

    /// A run gave its limit slot back (`JobContext.releaseLimitSlot`). To a standby run of
    /// the same key waiting here, in memory, with the swap recorded in the database before
    /// this run's result is stored; else the next fetch marks the run, and a fetch right
    /// away lets another job of the key start now (other workers see the slot at their
    /// next fetch).
    ///
    /// A run of a serial lane looks at the lane's next job (read when the run started, or
    /// awaited here if that read is still under way): that job can be claimed only once
    /// this run's result is stored, so a slot handed to a standby run now would pass it by
    /// at every document, and a long lane would finish alone with the limit idle. When that
    /// job comes before every standby run waiting here in the queue's order,
    /// this run keeps its slot until its result is stored, and the fetch that follows the
    /// store claims the lane's next job in the freed slot; otherwise the slot goes as above.
    private func limitSlotReleased(_ key: RunKey) {
        enum Next {
            case nothing, fetch
            case handOver(RunKey, CheckedContinuation<Void, any Error>?)
        }
        let next = state.withLock { state -> Next in
            guard state.slotGiven.insert(key).inserted else { return .nothing }
            if state.standby[key] != nil {
                // A standby run done with the resource before it had a slot: it needs none.
                _ = state.removeStandby(key)
                return .nothing
            }
            guard let running = state.running[key], let limitKey = running.standbyKey else {
                state.releasedLimitSlots.append(key)
                return .fetch
            }
            let previous = state.lastSwap
            var giveTo = state.standbyOrder[limitKey]?.first
            switch running.laneSuccessor {
            case nil: break
            case .reading(let read):
                // The look at the lane is still under way: decided when it ends. The result
                // waits for the decision as it waits for a swap, and later swaps wait for it,
                // in order.
                let decision = Task { [weak self] in
                    await previous?.value
                    await self?.handOverOrKeep(key, limitKey: limitKey, successor: await read.value)
                }
                state.lastSwap = decision
                state.swaps[key] = decision
                return .nothing
            case .known(let successor):
                switch state.laneDecision(limitKey: limitKey, successor: successor) {
                case .keep: return .nothing // the store of this run's result wakes the fetch that claims the lane's next job
                case .fetch: giveTo = nil
                case .handOver(let first): giveTo = first
                }
            }
            guard let next = giveTo, let run = state.removeStandby(next) else {
                state.releasedLimitSlots.append(key)
                return .fetch
            }
            let swap = Task { [weak self] in
                await previous?.value
                await self?.recordSwap(from: key, to: next)
            }
            state.lastSwap = swap
            state.swaps[key] = swap
            return .handOver(next, run.waiter)
        }
        switch next {
        case .nothing: break
        case .fetch: wake()
        case .handOver(_, let waiter):
            waiter?.resume()
            wake() // a worker slot frees soon: time to claim the next standby run
        }
    }

    /// The slot of `giver`, a run of a serial lane whose look at its lane ended after the
    /// provider answered (`successor`: what it found; a failed look counts as no next job):
    /// kept for the lane's next job, handed to the first standby run waiting, or given back
    /// to the next fetch (`State.laneDecision`).
    private func handOverOrKeep(_ giver: RunKey, limitKey: String, successor: QueueOrder?) async {
        enum Next {
            case keep, fetch
            case handOver(RunKey, CheckedContinuation<Void, any Error>?)
        }
        let next = state.withLock { state -> Next in
            // The run may have been abandoned meanwhile (its lease lost): nothing to give.
            guard state.running[giver] != nil else { return .keep }
            switch state.laneDecision(limitKey: limitKey, successor: successor) {
            case .keep: return .keep
            case .fetch:
                state.releasedLimitSlots.append(giver)
                return .fetch
            case .handOver(let first):
                guard let waiting = state.removeStandby(first) else {
                    state.releasedLimitSlots.append(giver)
                    return .fetch
                }
                return .handOver(first, waiting.waiter)
            }
        }
        switch next {
        case .keep: break // the store of this run's result wakes the fetch that claims the lane's next job
        case .fetch: wake()
        case .handOver(let taker, let waiter):
            waiter?.resume()
            wake()
            await recordSwap(from: giver, to: taker)
        }
    }

    /// Writes a hand-over: `giver` released, `taker` holding, in one statement. Tried a few
    /// times; if the database stays away the giver stays counted until its result is stored,
    /// after which the account may briefly see one request more than the queue counts.
    private func recordSwap(from giver: RunKey, to taker: RunKey) async {
        for attempt in 1...5 {
            do {
                try await pool.query(
                    QueueSQL.swapLimitSlot, [giver.id, giver.runID, taker.id, taker.runID, options.workerID], prepare: true)
                return
            } catch {
                logger.warning(
                    "could not record a limit slot handed to a standby run", metadata: ["error": "\(error)", "try": "\(attempt)"])
                await pause(.milliseconds(50 * attempt))
            }
        }
    }

    /// `JobContext.waitForLimitSlot`: returns at once for a run that holds its slot; a
    /// standby run waits until it is handed one, promoted, or gives up.
    func waitForLimitSlot(_ key: RunKey) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready = state.withLock { state -> Result<Void, any Error>? in
                if state.standbyGaveUp.contains(key) { return .failure(JobError.standbyGaveUp) }
                guard state.standby[key] != nil else { return .success(()) }
                state.standby[key]?.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    private func schedulePromotion(after delay: Duration) {
        Task { [weak self] in
            await pause(delay)
            await self?.promoteStandby()
        }
    }

    /// Standby runs that have waited `standbyPromoteAfter`: those whose key has a free slot
    /// in the database take it, as many as the worker has slots free (a standby run takes
    /// none until then); those past `standbyPatience` give up.
    private func promoteStandby() async {
        let now = ContinuousClock.now
        let (due, promotable) = state.withLock { state -> (due: [RunKey], promotable: [RunKey]) in
            let waited = state.standby.filter { now - $0.value.since >= options.standbyPromoteAfter }
                .sorted { $0.value.order < $1.value.order }.map(\.key)
            let promotable = Array(waited.prefix(max(state.freeSlots(options.concurrency), 0)))
            // Reserved as a fetch's are, so a fetch meanwhile does not fill the same slots.
            state.fetchingSlots += promotable.count
            return (waited, promotable)
        }
        guard !due.isEmpty else { return }
        var promoted: Set<RunKey> = []
        if !promotable.isEmpty {
            do {
                let rows = try await pool.query(
                    QueueSQL.promoteStandby, [options.workerID, promotable.map(\.id), promotable.map(\.runID)]
                ).rows
                promoted = Set(try rows.map { RunKey(id: try $0.decode("id"), runID: try $0.decode("run_id")) })
            } catch {
                logger.warning("could not promote standby runs", metadata: ["error": "\(error)"])
            }
        }
        let (resumed, failed, waiting) = state.withLock { state in
            state.fetchingSlots -= promotable.count
            var resumed: [CheckedContinuation<Void, any Error>] = []
            var failed: [CheckedContinuation<Void, any Error>] = []
            for key in promoted {
                // Taken from the standby set even if handed a slot meanwhile: it is counted now.
                if let waiter = state.removeStandby(key)?.waiter { resumed.append(waiter) }
            }
            for key in due where !promoted.contains(key) {
                guard let run = state.standby[key], ContinuousClock.now - run.since >= options.standbyPatience || state.stopping else {
                    continue
                }
                _ = state.removeStandby(key)
                state.standbyGaveUp.insert(key)
                if let waiter = run.waiter { failed.append(waiter) }
            }
            return (resumed, failed, !state.standby.isEmpty)
        }
        for waiter in resumed { waiter.resume() }
        for waiter in failed { waiter.resume(throwing: JobError.standbyGaveUp) }
        if waiting { schedulePromotion(after: options.standbyPromoteAfter) }
    }

    /// At shutdown: standby runs give up at once (they go back to the queue).
    private func releaseStandby() {
        let waiters = state.withLock { state in
            let keys = Array(state.standby.keys)
            return keys.compactMap { key -> CheckedContinuation<Void, any Error>? in
                state.standbyGaveUp.insert(key)
                return state.removeStandby(key)?.waiter
            }
        }
        for waiter in waiters { waiter.resume(throwing: JobError.standbyGaveUp) }
    }

    // MARK: - Wake-ups

    /// Wakes the fetch loop when a rate window turns, `seconds` from now: the jobs of a key
    /// whose windows are spent start then, not at the next poll, and nothing polls
    /// meanwhile. One timer at a time, the earliest asked for.
    private func scheduleWindowWake(in seconds: Double) {
        // At least 5 ms, so that a clock that disagrees cannot make the loop spin; a
        // little after the turn, so the fetch's now() is in the new window.
        let delay = Duration.seconds(min(max(seconds, 0) + 0.005, 86_400))
        let at = ContinuousClock.now + delay
        state.withLock { state in
            if let pending = state.windowWake, pending.at <= at { return }
            state.windowWake?.task.cancel()
            state.windowWake = (
                at,
                Task { [weak self] in
                    do { try await Task.sleep(until: at, clock: .continuous) } catch { return }
                    self?.state.withLock { $0.windowWake = nil }
                    self?.wake()
                }
            )
        }
    }

    /// Asks the fetch loop to look for work. Wake-ups coalesce: many while a fetch runs
    /// make one more fetch, not many.
    func wake() {
        wakeupContinuation.yield()
    }

    private func forwardNotifications(from listener: Listener) async {
        for await event in listener.events {
            switch event {
            case .notification(_, let queue) where options.queues.contains(queue): wake()
            case .notification: break
            case .reconnected: wake() // notifications may have been missed
            }
        }
    }

    private func pollTimer() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: options.pollInterval) } catch { return }
            wake()
        }
    }

    // MARK: - Leases

    private func heartbeatLoop() async {
        let interval = options.lease / 3
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await heartbeat()
        }
    }

    /// Renews the leases of the running runs, and abandons those the database says this
    /// worker no longer holds. When the heartbeat fails (database away) nothing is
    /// abandoned: the runs go on, and their leases may run out meanwhile.
    func heartbeat() async {
        // In id order, as the completer stores results (Completer.store): the two lock the
        // same rows, and must not take them in opposite orders.
        let keys = state.withLock { $0.running.keys.sorted { $0.id < $1.id } }
        guard !keys.isEmpty else { return }
        let held: Set<RunKey>
        do {
            let rows = try await pool.query(
                QueueSQL.extendLeases, [options.workerID, keys.map(\.id), keys.map(\.runID), options.lease.seconds], prepare: true
            ).rows
            held = Set(try rows.map { RunKey(id: try $0.decode("id"), runID: try $0.decode("run_id")) })
        } catch {
            logger.warning("heartbeat failed; leases may run out", metadata: ["error": "\(error)"])
            return
        }
        abandon(keys.filter { !held.contains($0) })
    }

    /// Gives up runs whose lease this worker lost: cancels their tasks and frees their
    /// slots at once; their results, whenever the handlers return, are dropped. A run
    /// that finished since the heartbeat read `running` is not touched (its result is
    /// with the completer, whose statement the database refuses if the run is stale).
    private func abandon(_ lost: [RunKey]) {
        guard !lost.isEmpty else { return }
        let (abandoned, waiters) = state.withLock { state in
            // A lost standby run must not be handed a slot meanwhile.
            let waiters = lost.compactMap { state.removeStandby($0)?.waiter }
            return (lost.compactMap { key in state.running.removeValue(forKey: key).map { (key, $0.task) } }, waiters)
        }
        for waiter in waiters { waiter.resume(throwing: CancellationError()) }
        guard !abandoned.isEmpty else { return }
        for (_, task) in abandoned { task.cancel() }
        logger.warning(
            "lost the lease of running jobs (rescued, cancelled, or claimed again meanwhile); abandoning their runs, whose results will not be stored",
            metadata: ["jobs": "\(abandoned.map { "\($0.0.id)/run \($0.0.runID)" }.joined(separator: ","))"])
        wake() // their slots are free
    }

    private func maintenanceLoop() async {
        let maintenance = Maintenance(pool: pool, retention: options.retention, logger: logger)
        let clock = ContinuousClock()
        var lastPrune = clock.now - options.retention.interval
        while !Task.isCancelled {
            // Jitter, so that workers started together do not all scan at once.
            let jitter = Double.random(in: 0.75...1.25)
            do { try await Task.sleep(for: options.rescueInterval * jitter) } catch { return }
            if await maintenance.rescueExpiredLeases() > 0 { wake() }
            if clock.now - lastPrune >= options.retention.interval {
                lastPrune = clock.now
                await maintenance.pruneFinishedJobs()
            }
        }
    }

    // MARK: - Shutdown

    private func stopFetching() {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            if state.shutdownStartedAt == nil { state.shutdownStartedAt = .now }
            return !state.stopping
        }
        guard first else { return }
        releaseStandby()
        logger.info("shutting down: no new jobs; waiting for running ones", metadata: ["grace": "\(options.gracePeriod)"])
        wakeupContinuation.yield()
        stopContinuation.yield()
        stopContinuation.finish()
    }

    /// Waits for running jobs until `jobsDeadline`, then abandons those still running and
    /// hands them back to the queue, trying until `handBackBy` at most.
    private func finishRunningJobs(until jobsDeadline: ContinuousClock.Instant, handBackBy: ContinuousClock.Instant) async {
        while ContinuousClock.now < jobsDeadline, state.withLock({ !$0.running.isEmpty }) {
            await pause(.milliseconds(20))
        }
        // Out of `running` first, so that a cancelled handler's result is dropped rather
        // than stored as a failure before the hand-back.
        let leftovers = state.withLock { state -> [RunKey: RunningJob] in
            defer { state.running = [:] }
            return state.running
        }
        guard !leftovers.isEmpty else { return }
        logger.warning("grace period over: handing running jobs back to the queue", metadata: ["jobs": "\(leftovers.count)"])
        for job in leftovers.values { job.task.cancel() }
        let handedBackKeys = leftovers.keys.sorted { $0.id < $1.id }
        let ids = handedBackKeys.map(\.id)
        let runIDs = handedBackKeys.map(\.runID)
        let handedBack = await bounded(until: handBackBy) { [pool, logger] in
            for attempt in 1...5 {
                do {
                    try await pool.query(QueueSQL.releaseJobs, [ids, runIDs, true])
                    return
                } catch {
                    logger.error(
                        "could not hand jobs back; their leases will run out instead", metadata: ["error": "\(error)", "try": "\(attempt)"])
                    await pause(.milliseconds(200))
                }
            }
        }
        if !handedBack {
            logger.error(
                "could not hand running jobs back before the shutdown deadline; their leases will run out and they will be rescued",
                metadata: ["jobs": "\(ids.count)"])
        }
    }

    private func registerKinds() async throws {
        let kinds = registry.kinds
        let attempts = kinds.map { registry.entry(for: $0)!.options.maxAttempts }
        try await pool.query(QueueSQL.registerKinds, [kinds, attempts])
    }
}

/// Sleeps even in a cancelled task. Shutdown must wait for running jobs and the last
/// flush whether it came from a signal or from cancellation; `Task.sleep` would return at
/// once when cancelled and turn these waits into busy loops.
func pause(_ duration: Duration) async {
    let nanoseconds = UInt64(max(0, duration.seconds) * 1e9)
    await withCheckedContinuation { continuation in
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { continuation.resume() }
    }
}

/// A job's place in the queue's order, for standby runs: lower goes first.
struct QueueOrder: Comparable {
    let priority: Int
    let id: Int64
    static func < (lhs: QueueOrder, rhs: QueueOrder) -> Bool { (lhs.priority, lhs.id) < (rhs.priority, rhs.id) }
}

extension WorkerPool.State {
    /// Adds a standby run at its place in the queue's order, not at the end: the next slot
    /// of its key goes to the job that came first. A serial lane's next document is claimed
    /// as a standby run only after its predecessor's result is stored, behind runs claimed
    /// while the predecessor ran; in claim order it would wait for all of them at every
    /// document, and a long lane (a customer with 300 invoices) would fall behind the month
    /// and finish alone with the limit idle. In the queue's order a lagging lane's next
    /// document is older than what was claimed meanwhile, so it goes next.
    mutating func addStandby(_ key: WorkerPool.RunKey, _ run: WorkerPool.StandbyRun) {
        standby[key] = run
        var order = standbyOrder[run.limitKey] ?? []
        let place = order.firstIndex { (standby[$0]?.order ?? run.order) > run.order } ?? order.endIndex
        order.insert(key, at: place)
        standbyOrder[run.limitKey] = order
    }

    /// A run's end in the state: out of the standby runs (its waiter, if any, is for the
    /// caller to resume), out of `running` and counted as unstored if it was still ours.
    mutating func endRun(_ key: WorkerPool.RunKey) -> WorkerPool.EndStep {
        let gaveUp = standbyGaveUp.remove(key) != nil
        let waiter = removeStandby(key)?.waiter
        slotGiven.remove(key)
        let ours = running.removeValue(forKey: key) != nil
        if ours { unstored += 1 }
        return .ended(ours: ours, gaveUp: gaveUp, waiter: waiter)
    }

    /// Takes `key` out of the standby runs, returning it if it was one.
    mutating func removeStandby(_ key: WorkerPool.RunKey) -> WorkerPool.StandbyRun? {
        guard let run = standby.removeValue(forKey: key) else { return nil }
        standbyOrder[run.limitKey]?.removeAll { $0 == key }
        if standbyOrder[run.limitKey]?.isEmpty == true { standbyOrder[run.limitKey] = nil }
        return run
    }

    enum LaneDecision: Equatable {
        case keep, fetch
        case handOver(WorkerPool.RunKey)
    }

    /// What the slot of a serial lane's run goes to when it gives it back, given the lane's
    /// next job (`successor`, nil when it has none): the first standby run of `limitKey`
    /// waiting here when it comes before that job in the queue's order; else kept, so that the
    /// fetch the store of its result wakes claims the lane's next job in it; else the next
    /// fetch. Decides only: the caller takes the standby run out and records the swap.
    func laneDecision(limitKey: String, successor: QueueOrder?) -> LaneDecision {
        if let first = standbyOrder[limitKey]?.first, let waiting = standby[first], successor.map({ waiting.order < $0 }) ?? true {
            return .handOver(first)
        }
        return successor == nil ? .fetch : .keep
    }

    /// The slots not taken. A standby run still waiting takes none: it has loaded what it
    /// needs and does nothing until it is handed a limit slot, and a worker whose slots it
    /// took had no room left for the standby runs of the slots it holds (4 of a limit's 5 at
    /// 8 slots: 4 holders and 4 standby runs, plus any run storing its result), so its next
    /// freed slot went back through the database (`fetchStandby`). Negative for a moment
    /// after a hand-over: the standby run handed the slot counts at once, the run that gave
    /// it until its result is stored.
    func freeSlots(_ concurrency: Int) -> Int { concurrency - (running.count - standby.count) - unstored - fetchingSlots }

    /// The free slots, or 0 while results being stored are about to free at least half of
    /// them: their flush wakes the fetch loop again, so nothing waits for long, and one
    /// fetch then fills the slots. Fetching for every slot as soon as it frees split each
    /// batch into a trickle (1 job, then 99, then 1, …): a round trip and a commit each.
    func slotsWorthFetching(_ concurrency: Int) -> Int {
        let free = freeSlots(concurrency)
        if unstored > 0, free < (concurrency + 1) / 2 { return 0 }
        return free
    }
}

/// Lets the parts built before the worker is whole (the completer, the executor's jobs)
/// call back into it.
///
/// The closure sits in a struct, not directly in the Mutex: a function value held in the
/// generic Mutex was reabstracted through its `inout` on every `withLock`, and the wrapped
/// closure written back, so each call added two thunks to the chain the next call walked.
/// Profiles of a long drain showed most of the worker's time in those thunks (and memory
/// growing with every flush).
/// A weak reference the executor's closures reach the worker through.
private final class WeakBox<Value: AnyObject & Sendable>: Sendable {
    private let reference = Mutex<Reference?>(nil)
    private struct Reference: @unchecked Sendable { weak var value: Value? }
    var value: Value? {
        get { reference.withLock { $0?.value } }
        set { reference.withLock { $0 = Reference(value: newValue) } }
    }
}

private final class CallbackBox<Argument: Sendable>: Sendable {
    private struct Action: Sendable {
        let body: @Sendable (Argument) -> Void
    }
    private let action = Mutex<Action?>(nil)
    func set(_ body: @escaping @Sendable (Argument) -> Void) { action.withLock { $0 = Action(body: body) } }
    func call(_ argument: Argument) {
        let action = action.withLock { $0 }
        action?.body(argument)
    }
}
