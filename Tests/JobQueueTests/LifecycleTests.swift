import Foundation
import Logging
import Simulators
import Synchronization
import Testing

@testable import JobQueue
@testable import Postgres

/// True when `text` (nil counts as false) has no line breaks.
private func lifecycleTestIsOneLine(_ text: String?) -> Bool {
    guard let text else { return false }
    return !text.contains { $0.isNewline }
}

// Pure tests of the job lifecycle rules: Backoff, JobOutcome.decide, and how JobRegistry
// reports arguments that do not decode. No database.

/// Always returns the same word: 0 gives the smallest random unit, .max the largest.
private struct LifecycleConstantRandom: RandomNumberGenerator {
    let word: UInt64
    mutating func next() -> UInt64 { word }
}

@Suite("Backoff", .timeLimit(.minutes(2)))
struct BackoffTests {
    @Test(
        "ceilings double from the base and stop at the cap",
        arguments: [
            (Backoff.default, [5.0, 10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800, 1800]),
            (Backoff(base: 3, cap: 100), [3, 6, 12, 24, 48, 96, 100, 100, 100]),
            (Backoff(base: 0.5, cap: 4, jitter: 0), [0.5, 1, 2, 4, 4]),
            (Backoff(base: 7, cap: 7, jitter: 1), [7, 7, 7]),
            (Backoff(base: 1, cap: 1_048_576), [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]),
        ])
    func ceilings(backoff: Backoff, expected: [Double]) {
        let ceilings = (1...expected.count).map { backoff.ceiling(afterAttempt: $0) }
        #expect(ceilings == expected)
    }

    @Test("ceilings follow min(cap, base × 2^(attempt-1)) and never shrink")
    func ceilingFormula() {
        for backoff in [
            Backoff.default, Backoff(base: 0.001, cap: 86_400), Backoff(base: 1.5, cap: 1_000_000_000), Backoff(base: 60, cap: 60),
        ] {
            var previous = 0.0
            for attempt in 1...200 {
                let ceiling = backoff.ceiling(afterAttempt: attempt)
                let expected = min(backoff.cap, backoff.base * pow(2, Double(attempt - 1)))
                #expect(ceiling == expected, "\(backoff) attempt \(attempt)")
                #expect(ceiling >= previous, "\(backoff) shrank at attempt \(attempt)")
                #expect(ceiling <= backoff.cap)
                previous = ceiling
            }
        }
    }

    @Test("huge attempt numbers give the cap, without overflow")
    func hugeAttempts() {
        var random = SplitMix64(seed: 7)
        for backoff in [Backoff.default, Backoff(base: 0.001, cap: 86_400), Backoff(base: 1, cap: 1e300)] {
            for attempt in [63, 64, 65, 1_000, 1 << 40, Int.max / 2, Int.max - 1, Int.max] {
                let ceiling = backoff.ceiling(afterAttempt: attempt)
                #expect(ceiling.isFinite)
                #expect(ceiling <= backoff.cap)
                if backoff.cap <= 1e15 { #expect(ceiling == backoff.cap, "\(backoff) attempt \(attempt)") }
                let delay = backoff.delay(afterAttempt: attempt, using: &random)
                #expect(delay.isFinite && delay > 0 && delay <= ceiling)
            }
        }
    }

    @Test("attempt numbers below 1 get the base delay")
    func attemptsBelowOne() {
        let backoff = Backoff(base: 4, cap: 100)
        for attempt in [0, -1, -1_000_000] {
            #expect(backoff.ceiling(afterAttempt: attempt) == 4)
        }
    }

    @Test(
        "every delay lies in [ceiling × (1 - jitter), ceiling]",
        arguments: [
            Backoff.default, Backoff(base: 1, cap: 60, jitter: 0.5), Backoff(base: 0.1, cap: 10, jitter: 1),
            Backoff(base: 2, cap: 2, jitter: 0.1),
        ])
    func delayBounds(backoff: Backoff) {
        var random = SplitMix64(seed: 0xC0FFEE)
        for attempt in 1...40 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            let floor = ceiling * (1 - backoff.jitter)
            for _ in 0..<200 {
                let delay = backoff.delay(afterAttempt: attempt, using: &random)
                #expect(delay >= floor && delay <= ceiling, "\(backoff) attempt \(attempt): \(delay) not in [\(floor), \(ceiling)]")
                #expect(delay > 0 || backoff.jitter == 1)
            }
        }
        // The system generator keeps to the same bounds.
        for attempt in 1...20 {
            let delay = backoff.delay(afterAttempt: attempt)
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            #expect(delay >= ceiling * (1 - backoff.jitter) && delay <= ceiling)
        }
    }

    @Test("the extremes of the random range give exactly the ceiling and just above its floor")
    func delayExtremes() {
        let backoff = Backoff(base: 10, cap: 1000, jitter: 0.25)
        var lowest = LifecycleConstantRandom(word: 0)
        var highest = LifecycleConstantRandom(word: .max)
        for attempt in 1...10 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            #expect(backoff.delay(afterAttempt: attempt, using: &lowest) == ceiling)
            let shortest = backoff.delay(afterAttempt: attempt, using: &highest)
            #expect(shortest >= ceiling * 0.75)
            #expect(shortest < ceiling * 0.75 + ceiling * 1e-9)
        }
        // No jitter: always the ceiling.
        let exact = Backoff(base: 3, cap: 30, jitter: 0)
        var random = SplitMix64(seed: 1)
        for attempt in 1...10 {
            for _ in 0..<20 { #expect(exact.delay(afterAttempt: attempt, using: &random) == exact.ceiling(afterAttempt: attempt)) }
        }
    }

    @Test("delays are really jittered, and spread over the whole range")
    func delaysAreJittered() {
        let backoff = Backoff.default
        var random = SplitMix64(seed: 42)
        let ceiling = backoff.ceiling(afterAttempt: 5) // 80 s
        let samples = (0..<1000).map { _ in backoff.delay(afterAttempt: 5, using: &random) }
        #expect(Set(samples).count > 990, "only \(Set(samples).count) distinct delays in 1000")
        let floor = ceiling * (1 - backoff.jitter)
        let span = ceiling - floor
        #expect(samples.min()! < floor + span * 0.05)
        #expect(samples.max()! > ceiling - span * 0.05)
        // Roughly uniform: each quarter of the range gets a fair share.
        for quarter in 0..<4 {
            let low = floor + span * Double(quarter) / 4
            let share = samples.filter { $0 >= low && $0 < low + span / 4 }.count
            #expect((180...320).contains(share), "quarter \(quarter) got \(share) of 1000")
        }
        // Capped retries spread out too.
        let capped = (0..<100).map { _ in backoff.delay(afterAttempt: 50, using: &random) }
        #expect(Set(capped).count > 90)
        #expect(capped.allSatisfy { $0 <= backoff.cap && $0 >= backoff.cap * 0.75 })
        // And with the system generator.
        let system = (0..<50).map { _ in backoff.delay(afterAttempt: 3) }
        #expect(Set(system).count > 1)
    }

    @Test("the same seed gives the same delays")
    func deterministicWithSeed() {
        let backoff = Backoff(base: 1, cap: 300)
        var first = SplitMix64(seed: 99)
        var second = SplitMix64(seed: 99)
        var other = SplitMix64(seed: 100)
        let a = (1...30).map { backoff.delay(afterAttempt: $0, using: &first) }
        let b = (1...30).map { backoff.delay(afterAttempt: $0, using: &second) }
        let c = (1...30).map { backoff.delay(afterAttempt: $0, using: &other) }
        #expect(a == b)
        #expect(a != c)
    }

    @Test("invalid parameters are refused")
    func invalidParameters() async {
        await #expect(processExitsWith: .failure) { _ = Backoff(base: 0, cap: 10) }
        await #expect(processExitsWith: .failure) { _ = Backoff(base: 10, cap: 5) }
        await #expect(processExitsWith: .failure) { _ = Backoff(base: 1, cap: 5, jitter: 1.5) }
        await #expect(processExitsWith: .failure) { _ = Backoff(base: 1, cap: 5, jitter: -0.1) }
    }
}

// MARK: - JobOutcome.decide

private struct LifecyclePlainError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}

/// One row of the decide table.
struct LifecycleDecideCase: Sendable, CustomTestStringConvertible {
    enum Expected: Sendable {
        case fail
        case retry(ClosedRange<Double>)
        case snooze(Double)
    }

    let name: String
    let error: any Error & Sendable
    let attempt: Int
    let maxAttempts: Int
    let expected: Expected
    /// What the history entry says (not checked for snoozes, which have none).
    var errorClass = ""
    var message = ""
    var code: String? = nil

    var testDescription: String { name }

    /// The table's backoff: base 2 s, cap 60 s, jitter 0.5, so attempt n retries after
    /// [2^(n-1), 2^n] seconds until 60 s.
    static let backoff = Backoff(base: 2, cap: 60, jitter: 0.5)

    static let all: [LifecycleDecideCase] = [
        LifecycleDecideCase(
            name: "permanent on the first attempt fails", error: JobError.permanent("card declined", code: "card_declined"),
            attempt: 1, maxAttempts: 5, expected: .fail, errorClass: "permanent", message: "card declined", code: "card_declined"),
        LifecycleDecideCase(
            name: "permanent with many attempts left still fails", error: JobError.permanent("no such account"),
            attempt: 2, maxAttempts: 20, expected: .fail, errorClass: "permanent", message: "no such account"),
        LifecycleDecideCase(
            name: "transient on attempt 1 of 5 retries after 1-2 s", error: JobError.transient("provider timeout", code: "ETIMEDOUT"),
            attempt: 1, maxAttempts: 5, expected: .retry(1...2), errorClass: "transient", message: "provider timeout", code: "ETIMEDOUT"),
        LifecycleDecideCase(
            name: "transient on attempt 3 of 5 retries after 4-8 s", error: JobError.transient("provider timeout"),
            attempt: 3, maxAttempts: 5, expected: .retry(4...8), errorClass: "transient", message: "provider timeout"),
        LifecycleDecideCase(
            name: "transient late retries within the cap", error: JobError.transient("still down"),
            attempt: 12, maxAttempts: 20, expected: .retry(30...60), errorClass: "transient", message: "still down"),
        LifecycleDecideCase(
            name: "transient on the last attempt fails", error: JobError.transient("provider timeout"),
            attempt: 5, maxAttempts: 5, expected: .fail, errorClass: "transient", message: "provider timeout"),
        LifecycleDecideCase(
            name: "transient past the last attempt fails", error: JobError.transient("provider timeout"),
            attempt: 7, maxAttempts: 5, expected: .fail, errorClass: "transient", message: "provider timeout"),
        LifecycleDecideCase(
            name: "a single-attempt job fails at once", error: JobError.transient("flaky"),
            attempt: 1, maxAttempts: 1, expected: .fail, errorClass: "transient", message: "flaky"),
        LifecycleDecideCase(
            name: "retryAfter uses the given delay",
            error: JobError(action: .retryAfter(.seconds(90)), errorClass: "rate_limited", message: "429 Too Many Requests", code: "429"),
            attempt: 2, maxAttempts: 5, expected: .retry(90...90), errorClass: "rate_limited", message: "429 Too Many Requests", code: "429"
        ),
        LifecycleDecideCase(
            name: "retryAfter keeps sub-second precision",
            error: JobError(action: .retryAfter(.milliseconds(1500)), errorClass: "rate_limited", message: "slow down"),
            attempt: 1, maxAttempts: 5, expected: .retry(1.5...1.5), errorClass: "rate_limited", message: "slow down"),
        LifecycleDecideCase(
            name: "retryAfter longer than the backoff cap is honoured",
            error: JobError(action: .retryAfter(.seconds(3600)), errorClass: "rate_limited", message: "come back in an hour"),
            attempt: 1, maxAttempts: 5, expected: .retry(3600...3600), errorClass: "rate_limited", message: "come back in an hour"),
        LifecycleDecideCase(
            name: "retryAfter on the last attempt fails",
            error: JobError(action: .retryAfter(.seconds(90)), errorClass: "rate_limited", message: "429"),
            attempt: 5, maxAttempts: 5, expected: .fail, errorClass: "rate_limited", message: "429"),
        LifecycleDecideCase(
            name: "snooze with attempts left snoozes", error: JobError.snooze(.seconds(30), reason: "settlement pending"),
            attempt: 1, maxAttempts: 5, expected: .snooze(30)),
        LifecycleDecideCase(
            name: "snooze on the last attempt still snoozes", error: JobError.snooze(.seconds(30), reason: "settlement pending"),
            attempt: 5, maxAttempts: 5, expected: .snooze(30)),
        LifecycleDecideCase(
            name: "snooze past the last attempt still snoozes", error: JobError.snooze(.milliseconds(250), reason: "soon"),
            attempt: 9, maxAttempts: 5, expected: .snooze(0.25)),
        LifecycleDecideCase(
            name: "a plain Swift error retries with class error", error: LifecyclePlainError(text: "disk on fire"),
            attempt: 1, maxAttempts: 3, expected: .retry(1...2), errorClass: "error", message: "disk on fire"),
        LifecycleDecideCase(
            name: "a plain Swift error on the last attempt fails", error: LifecyclePlainError(text: "disk on fire"),
            attempt: 3, maxAttempts: 3, expected: .fail, errorClass: "error", message: "disk on fire"),
        LifecycleDecideCase(
            name: "a plain error's multi-line description becomes one line",
            error: LifecyclePlainError(text: "first line\nsecond line\nthird"),
            attempt: 2, maxAttempts: 3, expected: .retry(2...4), errorClass: "error", message: "first line second line third"),
        LifecycleDecideCase(
            name: "a database error retries as a plain error",
            error: PostgresError(.connectionLost, "the connection to PostgreSQL is closed"),
            attempt: 1, maxAttempts: 3, expected: .retry(1...2), errorClass: "error", message: "the connection to PostgreSQL is closed"),
        LifecycleDecideCase(
            name: "bad args fail at once", error: JobError.badArgs("args do not decode"),
            attempt: 1, maxAttempts: 20, expected: .fail, errorClass: "bad_args", message: "args do not decode"),
        LifecycleDecideCase(
            name: "an unknown kind fails at once", error: JobError.unknownKind("mystery", known: ["a", "b"]),
            attempt: 1, maxAttempts: 20, expected: .fail, errorClass: "unknown_kind",
            message: "no handler for job kind 'mystery' in this worker (it runs: a, b)"),
        LifecycleDecideCase(
            name: "a timed-out run retries", error: JobError.timedOut(after: .seconds(300)),
            attempt: 2, maxAttempts: 3, expected: .retry(2...4), errorClass: "timeout",
            message: "the run did not finish within its timeout of 300.0 seconds"),
    ]
}

@Suite("JobOutcome.decide", .timeLimit(.minutes(2)))
struct JobOutcomeTests {
    @Test(arguments: LifecycleDecideCase.all)
    func decide(_ row: LifecycleDecideCase) throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let outcome = JobOutcome.decide(
            error: row.error, attempt: row.attempt, maxAttempts: row.maxAttempts, backoff: LifecycleDecideCase.backoff, worker: "worker-7",
            now: now)
        func checkEntry(_ entry: JobOutcome.ErrorEntry) {
            #expect(entry.at == now)
            #expect(entry.attempt == row.attempt)
            #expect(entry.worker == "worker-7")
            #expect(entry.class == row.errorClass)
            #expect(entry.message == row.message)
            #expect(entry.code == row.code)
        }
        switch (row.expected, outcome) {
        case (.fail, .fail(let entry)):
            checkEntry(entry)
            #expect(entry.retryIn == nil)
        case (.retry(let range), .retry(let delay, let entry)):
            #expect(range.contains(delay), "delay \(delay) not in \(range)")
            checkEntry(entry)
            #expect(entry.retryIn == delay)
        case (.snooze(let expected), .snooze(let delay)):
            #expect(delay == expected)
        default:
            Issue.record("expected \(row.expected), got \(outcome)")
        }
    }

    @Test("a transient error's retry delay varies from run to run")
    func retryDelaysVary() {
        let delays = (0..<50).map { _ in
            guard
                case .retry(let delay, _) = JobOutcome.decide(
                    error: JobError.transient("x"), attempt: 4, maxAttempts: 10, backoff: .default, worker: "w")
            else { return -1.0 }
            return delay
        }
        #expect(delays.allSatisfy { (30...40).contains($0) }, "\(delays)")
        #expect(Set(delays).count > 1)
    }

    @Test("an error entry is stored with snake_case retry_in, and reads back")
    func errorEntryJSON() throws {
        let outcome = JobOutcome.decide(
            error: JobError(action: .retryAfter(.seconds(12)), errorClass: "rate_limited", message: "slow", code: "429"),
            attempt: 1, maxAttempts: 3, backoff: .default, worker: "w1", now: Date(timeIntervalSince1970: 1000))
        guard case .retry(_, let entry) = outcome else {
            Issue.record("expected a retry, got \(outcome)")
            return
        }
        let data = try JSONEncoder().encode(entry)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["retry_in"] as? Double == 12)
        #expect(object["retryIn"] == nil)
        #expect(object["class"] as? String == "rate_limited")
        #expect(object["code"] as? String == "429")
        #expect(object["worker"] as? String == "w1")
        #expect(object["attempt"] as? Int == 1)
        #expect(try JSONDecoder().decode(JobOutcome.ErrorEntry.self, from: data) == entry)
    }
}

// MARK: - Arguments that do not decode, through JobRegistry

private struct LifecycleInvoiceHandler: JobHandler {
    struct Line: Decodable, Sendable { let amount: Int }
    struct Invoice: Decodable, Sendable { let lines: [Line] }
    struct Args: Decodable, Sendable {
        let invoiceID: String
        let invoice: Invoice
    }
    static let kind = "lifecycle.invoice"
    let ran: LifecycleRuns
    func run(_ args: Args, context: JobContext) async throws {
        ran.record(args.invoiceID + ":" + args.invoice.lines.map { String($0.amount) }.joined(separator: ","))
    }
}

private final class LifecycleRuns: Sendable {
    private let runs = Mutex<[String]>([])
    func record(_ run: String) { runs.withLock { $0.append(run) } }
    var all: [String] { runs.withLock { $0 } }
}

@Suite("JobRegistry argument decoding", .timeLimit(.minutes(2)))
struct RegistryDecodingTests {
    private func run(args: String, runs: LifecycleRuns) async throws {
        var registry = JobRegistry()
        registry.register(LifecycleInvoiceHandler(ran: runs))
        #expect(registry.kinds == [LifecycleInvoiceHandler.kind])
        let entry = try #require(registry.entry(for: LifecycleInvoiceHandler.kind))
        let row = Row(
            columns: [
                "id", "kind", "queue", "priority", "attempt", "max_attempts", "args", "serial_key", "limit_key", "created_at",
                "run_id", "rate_limited_seconds",
            ],
            values: ["17", LifecycleInvoiceHandler.kind, "default", "0", "1", "5", args, nil, nil, "2026-01-02 03:04:05.678+00", "3", "0"])
        let job = try Job(row: row)
        // The pool is never used: it connects lazily, and these handlers do not touch it.
        let context = JobContext(
            job: job, workerID: "w", logger: Logger(label: "ledgersync.tests.lifecycle"),
            pool: ConnectionPool(url: "postgresql://postgres@127.0.0.1:1/unused", maxConnections: 1))
        try await entry.run(job, context)
    }

    @Test("arguments that decode reach the handler")
    func decodes() async throws {
        let runs = LifecycleRuns()
        try await run(args: #"{"invoiceID": "inv-1", "invoice": {"lines": [{"amount": 5}, {"amount": 7}]}}"#, runs: runs)
        #expect(runs.all == ["inv-1:5,7"])
    }

    @Test(
        "arguments that do not decode fail the job with a one-line message naming the field",
        arguments: [
            (
                #"{"invoiceID": "inv-1", "invoice": {"lines": [{"amount": 1}, {"amount": 2}, {"amount": "three"}]}}"#,
                "at invoice.lines[2].amount: expected Int"
            ),
            (#"{"invoice": {"lines": []}}"#, "field 'invoiceID' is missing"),
            (#"{"invoiceID": "inv-1", "invoice": {"lines": [{}]}}"#, "field 'amount' is missing in invoice.lines[0]"),
            (#"{"invoiceID": "inv-1", "invoice": {"lines": [{"amount": null}]}}"#, "at invoice.lines[0].amount: expected Int"),
            (#"{"invoiceID": 42, "invoice": {"lines": []}}"#, "at invoiceID: expected String"),
            (#"[1, 2]"#, "at the top level: expected"),
            (#"{"invoiceID": "#, "at the top level: "),
        ])
    func badArguments(json: String, expected: String) async throws {
        let runs = LifecycleRuns()
        let error = await #expect(throws: JobError.self) { try await run(args: json, runs: runs) }
        #expect(runs.all.isEmpty, "the handler ran with bad arguments")
        #expect(error?.action == .fail)
        #expect(error?.errorClass == "bad_args")
        #expect(error?.message.hasPrefix("args of a 'lifecycle.invoice' job do not decode: ") == true, "\(String(describing: error))")
        #expect(error?.message.contains(expected) == true, "\(String(describing: error?.message)) does not contain \(expected)")
        #expect(lifecycleTestIsOneLine(error?.message))
        // And the outcome: failed at once, whatever attempts are left.
        if let error {
            guard case .fail(let entry) = JobOutcome.decide(error: error, attempt: 1, maxAttempts: 20, backoff: .default, worker: "w")
            else {
                Issue.record("bad args did not fail the job")
                return
            }
            #expect(entry.class == "bad_args")
        }
    }
}
