import Foundation

/// How a worker process runs. Every default is meant for production; tests shorten times.
public struct WorkerOptions: Sendable {
    /// The queues this worker takes jobs from.
    public var queues: [String]
    /// How many jobs run at once in this process.
    public var concurrency: Int
    /// The longest an idle worker waits before looking for work without a notification.
    public var pollInterval: Duration
    /// How long a running job stays ours without a heartbeat. The heartbeat renews it every
    /// third of this; a job whose lease runs out is rescued by any worker.
    public var lease: Duration
    /// How often this worker looks for expired leases.
    public var rescueInterval: Duration
    /// After SIGTERM/SIGINT, how long running jobs may take to finish before they are
    /// handed back to the queue.
    public var gracePeriod: Duration
    public var retention: Retention
    /// Unique per process; recorded in `locked_by` and error histories.
    public var workerID: String

    public init(
        queues: [String] = ["default"], concurrency: Int = 10, pollInterval: Duration = .seconds(1),
        lease: Duration = .seconds(30), rescueInterval: Duration = .seconds(15), gracePeriod: Duration = .seconds(30),
        retention: Retention = Retention(), workerID: String = WorkerOptions.defaultWorkerID()
    ) {
        self.queues = queues
        self.concurrency = concurrency
        self.pollInterval = pollInterval
        self.lease = lease
        self.rescueInterval = rescueInterval
        self.gracePeriod = gracePeriod
        self.retention = retention
        self.workerID = workerID
    }

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
