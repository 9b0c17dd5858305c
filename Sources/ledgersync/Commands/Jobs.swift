import ArgumentParser
import Foundation
import JobQueue
import Postgres
import Sync

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, retry and cancel jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self, Stats.self])
}

/// The filter options shared by list, retry and cancel.
struct FilterOptions: ParsableArguments {
    @Option(help: "Only jobs in these states (comma-separated: available,running,retryable,completed,failed,cancelled).")
    var state: String?
    @Option(help: "Only jobs of this kind.") var kind: String?
    @Option(help: "Only jobs of this queue.") var queue: String?
    @Option(help: "Only jobs created at least this long ago (e.g. 1h).") var olderThan: DurationArgument?
    @Option(help: "Only jobs created at most this long ago (e.g. 15m).") var newerThan: DurationArgument?

    func states() throws -> [JobState]? {
        guard let state else { return nil }
        return try state.split(separator: ",").map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let value = JobState(rawValue: trimmed) else {
                throw ValidationError("unknown state '\(trimmed)' (states: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return value
        }
    }

    var isEmpty: Bool { state == nil && kind == nil && queue == nil && olderThan == nil && newerThan == nil }

    func filter(id: Int64? = nil, limit: Int) throws -> JobFilter {
        JobFilter(
            id: id, states: try states(), kind: kind, queue: queue, olderThan: olderThan?.duration,
            newerThan: newerThan?.duration, limit: limit)
    }
}

extension Jobs {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var filter: FilterOptions
        @Option(help: "At most this many jobs.") var limit = 50
        @Option(help: "Only jobs with ids below this (the next page).") var before: Int64?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            _ = try filter.states()
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000, got \(limit)") }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            var jobFilter = try filter.filter(limit: limit)
            jobFilter.beforeID = before
            let jobs = try await JobQueue(pool: pool).list(jobFilter)
            let warned = json ? [] : try await JobWarnings.jobsWithWarnings(jobs.map(\.id), pool: pool)
            await pool.close()
            if json { return try printJSON(jobs) }
            guard !jobs.isEmpty else { return print("no jobs match") }
            var table = [["ID", "STATE", "KIND", "OBJECT", "QUEUE", "ATTEMPT", "CREATED", "LAST ERROR"]]
            for job in jobs {
                // A completed job's earlier errors are history, not its last error.
                let lastError = job.state == .completed ? "" : job.errors.last.map { "\($0.class): \($0.message)" } ?? ""
                table.append([
                    // "completed!": the job left a warning (`ledgersync jobs show <id>`).
                    "\(job.id)", job.state.rawValue + (warned.contains(job.id) ? "!" : ""), job.kind,
                    truncate(job.billingObjectDescription ?? "", 48), job.queue,
                    "\(job.attempt)/\(job.maxAttempts)", format(job.createdAt), truncate(lastError, 70),
                ])
            }
            printTable(table)
            if !warned.isEmpty { print("! the job left a warning (e.g. lines on the fallback item): see `ledgersync jobs show <id>`") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job: args, attempts and every error.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job id.") var id: Int64
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let job = try await JobQueue(pool: pool).job(id: id)
            let waitingFor =
                job?.state == .available || job?.state == .retryable
                ? try await DependencyWaits.describe(jobID: id, pool: pool) : nil
            let warnings = job == nil ? [] : try await JobWarnings.warnings(jobID: id, pool: pool)
            await pool.close()
            guard let job else { throw CLIError.notFound("no job with id \(id)") }
            if json { return try printJSON(job) }
            print("job \(job.id)  \(job.kind)  [\(job.state.rawValue)]")
            if let object = job.billingObjectDescription { print("  billing object: \(object)") }
            if let waitingFor { print("  waiting for \(waitingFor)") }
            print("  queue \(job.queue), priority \(job.priority), attempt \(job.attempt) of \(job.maxAttempts)")
            print(
                "  created \(format(job.createdAt)), run at \(format(job.runAt))"
                    + (job.attemptedAt.map { ", last started \(format($0))" } ?? "")
                    + (job.finalizedAt.map { ", finished \(format($0))" } ?? ""))
            if let worker = job.lockedBy { print("  running on \(worker)") }
            for (name, value) in [("unique key", job.uniqueKey), ("serial key", job.serialKey), ("limit key", job.limitKey)] {
                if let value { print("  \(name): \(value)") }
            }
            // What the job, having succeeded, left for a person to look at (sync migration 012).
            if !warnings.isEmpty {
                print("  warnings:")
                for warning in warnings { print("    \(warning.code): \(warning.message)") }
            }
            print("  args: \(String(decoding: try encoder(pretty: false).encode(job.args), as: UTF8.self))")
            if job.errors.isEmpty {
                print("  errors: none")
            } else {
                // A completed job's errors are of attempts before the one that succeeded.
                print(
                    job.state == .completed
                        ? "  errors of earlier attempts (\(job.errors.count)):" : "  errors (\(job.errors.count)):")
                for entry in job.errors {
                    let code = entry.code.map { " [\($0)]" } ?? ""
                    print(
                        "    attempt \(entry.attempt) at \(format(entry.at)) — \(entry.class)\(code): \(entry.message)"
                            + (entry.worker.map { " (worker \($0))" } ?? ""))
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run failed, cancelled or waiting jobs again now: one by id, or every job matching a filter.",
            discussion: "With a filter and no --state, only failed jobs are retried. A job that used up its attempts gets one more.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job id (or use a filter).") var id: Int64?
        @OptionGroup var filter: FilterOptions
        @Option(help: "At most this many jobs.") var limit = 10_000
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            _ = try filter.states()
            guard id != nil || !filter.isEmpty else {
                throw ValidationError("give a job id or a filter (--kind, --queue, --state, --older-than, --newer-than)")
            }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let queue = JobQueue(pool: pool)
            var jobFilter = try filter.filter(id: id, limit: limit)
            if id == nil, jobFilter.states == nil { jobFilter.states = [.failed] }
            let ids = try await queue.retry(jobFilter)
            if let id, ids.isEmpty {
                let job = try await queue.job(id: id)
                await pool.close()
                guard let job else { throw CLIError.notFound("no job with id \(id)") }
                throw CLIError.failed(
                    "job \(id) is \(job.state.rawValue): only failed, cancelled or retryable jobs can be retried"
                        + (job.uniqueKey != nil ? " (or another unfinished job holds its unique key)" : ""))
            }
            await pool.close()
            if json { return try printJSON(["retried": ids]) }
            print(
                "retried \(ids.count) job\(ids.count == 1 ? "" : "s")"
                    + (ids.isEmpty ? "" : ": " + ids.prefix(20).map(String.init).joined(separator: ", ") + (ids.count > 20 ? ", …" : "")))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel jobs that have not finished: one by id, or every job matching a filter.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job id (or use a filter).") var id: Int64?
        @OptionGroup var filter: FilterOptions
        @Option(help: "At most this many jobs.") var limit = 10_000
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            _ = try filter.states()
            guard id != nil || !filter.isEmpty else {
                throw ValidationError("give a job id or a filter (--kind, --queue, --state, --older-than, --newer-than)")
            }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let queue = JobQueue(pool: pool)
            let ids = try await queue.cancel(try filter.filter(id: id, limit: limit))
            if let id, ids.isEmpty {
                let job = try await queue.job(id: id)
                await pool.close()
                guard let job else { throw CLIError.notFound("no job with id \(id)") }
                throw CLIError.failed("job \(id) is \(job.state.rawValue) already: only unfinished jobs can be cancelled")
            }
            await pool.close()
            if json { return try printJSON(["cancelled": ids]) }
            print("cancelled \(ids.count) job\(ids.count == 1 ? "" : "s")")
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count jobs by queue, kind and state.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let stats = try await JobQueue(pool: pool).stats()
            await pool.close()
            if json { return try printJSON(stats) }
            guard !stats.isEmpty else { return print("no jobs") }
            var table = [["QUEUE", "KIND", "STATE", "JOBS", "OLDEST RUNNABLE"]]
            for row in stats {
                table.append([
                    row.queue, row.kind, row.state.rawValue, "\(row.jobs)",
                    row.oldestRunnableSeconds.map { String(format: "%.1fs", $0) } ?? "",
                ])
            }
            printTable(table)
        }
    }
}

// MARK: - Output

func encoder(pretty: Bool) -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.dateEncodingStrategy = .iso8601
    return encoder
}

func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try encoder(pretty: true).encode(value), as: UTF8.self))
}

func format(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

func truncate(_ text: String, _ length: Int) -> String {
    text.count > length ? String(text.prefix(length - 1)) + "…" : text
}

func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        print(
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
    }
}
