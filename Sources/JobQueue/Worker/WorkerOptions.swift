import Foundation

/// How a worker process runs. Every default is meant for production; tests shorten times.
public struct WorkerOptions: Sendable {
    /// The queues this worker takes jobs from.
    public var queues: [String]
    /// How many jobs run at once in this process. Standby runs waiting for a limit slot are
    /// not counted (at most one per limit slot the process holds; `WorkerPool.fetchStandby`).
    public var concurrency: Int
    /// The longest an idle worker waits before looking for work without a notification.
    public var pollInterval: Duration
    /// How long a running job stays ours without a heartbeat. The heartbeat renews it every
    /// third of this; a job whose lease runs out is rescued by any worker.
    public var lease: Duration
    /// How often this worker looks for expired leases.
    public var rescueInterval: Duration
    /// After SIGTERM/SIGINT, how long the whole shutdown may take, whatever the database
    /// does: running jobs get all of it but a reserve (a quarter, at most 5 s) to finish,
    /// the rest are handed back, and pending results are stored within the reserve.
    /// Whatever could not be stored by then is left to lease expiry and rescue.
    public var gracePeriod: Duration
    public var retention: Retention
    /// The most time a job may spend, in total, snoozed for rate limits (snoozes of class
    /// `rate_limited`: a provider's 429 or concurrency refusal). A snooze that would take it
    /// past this fails the job for good instead, like any final failure (sync jobs emit
    /// their provider-error webhook). Default 6 hours: long enough for a provider's busy
    /// spell or a daily quota's reset, short enough that a provider that always refuses
    /// does not hold a customer's serial lane for days.
    public var maxRateLimited: Duration
    /// Unique per process; recorded in `locked_by` and error histories.
    public var workerID: String
    /// A standby run (queue migration 013) that no run of this worker has handed a slot to
    /// after this long asks the database for a free one of its key (again after as long).
    public var standbyPromoteAfter: Duration = .milliseconds(250)
    /// … and after this long without a slot it goes back to the queue (a snooze of 0 s).
    public var standbyPatience: Duration = .seconds(5)

    public init(
        queues: [String] = ["default"], concurrency: Int = 10, pollInterval: Duration = .seconds(1),
        lease: Duration = .seconds(30), rescueInterval: Duration = .seconds(15), gracePeriod: Duration = .seconds(30),
        retention: Retention = Retention(), maxRateLimited: Duration = WorkerOptions.defaultMaxRateLimited,
        workerID: String = WorkerOptions.defaultWorkerID()
    ) {
        self.queues = queues
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.lease = lease
        self.rescueInterval = rescueInterval
        self.gracePeriod = gracePeriod
        self.retention = retention
        self.maxRateLimited = maxRateLimited
        self.workerID = workerID
    }

    public static let defaultMaxRateLimited: Duration = .seconds(6 * 3600)

    /// `host:pid:random`, readable in `jobs show` and unique even when pids repeat.
    public static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}

/// How long finished jobs are kept before the pruner deletes them. Failed jobs are kept
/// longest: they are the ones people come back to.
public struct Retention: Sendable, Equatable {
    public var completed: Duration
    public var cancelled: Duration
    public var failed: Duration
    /// How often a worker prunes.
    public var interval: Duration

    public init(
        completed: Duration = .seconds(86_400), cancelled: Duration = .seconds(7 * 86_400),
        failed: Duration = .seconds(30 * 86_400), interval: Duration = .seconds(60)
    ) {
        self.completed = completed
        self.cancelled = cancelled
        self.failed = failed
        self.interval = interval
    }
}
