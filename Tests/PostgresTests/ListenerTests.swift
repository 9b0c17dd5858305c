import Foundation
import JobQueueTesting
import Logging
import Synchronization
import Testing

@testable import Postgres

/// True when `text` (nil counts as false) has no line breaks.
private func listenerTestIsOneLine(_ text: String?) -> Bool {
    guard let text else { return false }
    return !text.contains { $0.isNewline }
}

// Tests of Listener (LISTEN/NOTIFY on a connection of its own) against a real PostgreSQL.
// Every wait for an event has a timeout, so a missing notification fails the test instead
// of hanging it. "Not received" is checked by order: PostgreSQL delivers one session's
// notifications in commit order, so a marker sent afterwards must arrive first.

private struct ListenerStreamEnded: Error, CustomStringConvertible {
    var description: String { "the listener's event stream ended" }
}

/// The next event of `listener`, or a timeout error.
private func nextEvent(_ listener: Listener, _ what: String, within seconds: Double = 20) async throws -> Listener.Event {
    try await withTimeout(.seconds(seconds), what) {
        for await event in listener.events { return event }
        throw ListenerStreamEnded()
    }
}

private let quietLogger: Logger = {
    var logger = Logger(label: "ledgersync.tests.listener")
    logger.logLevel = .critical
    return logger
}()

/// A fresh database, a listener on `channels` and a connection to send notifications from;
/// stops, closes and drops them all afterwards, also when `body` throws.
private func withListener(
    channels: [String], _ body: (Listener, Connection, TestDatabase) async throws -> Void
) async throws {
    let database = try await TestDatabase.create(migrations: [])
    var listener: Listener?
    var sender: Connection?
    do {
        listener = try await Listener(url: database.url, channels: channels, logger: quietLogger)
        sender = try await Connection.connect(url: database.url, applicationName: "listener_test_sender")
        try await body(listener!, sender!, database)
    } catch {
        listener?.stop()
        sender?.close()
        await database.drop()
        throw error
    }
    listener?.stop()
    sender?.close()
    await database.drop()
}

/// The backend pid of the listener's connection (the only ledgersync-listener in the database).
private func listenerBackends(_ connection: Connection) async throws -> [Int32] {
    try await connection.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ledgersync-listener'"
    ).rows.map { try $0.decode("pid", as: Int32.self) }
}

@Suite("Listener against PostgreSQL", .timeLimit(.minutes(3)))
struct ListenerTests {
    @Test("receives a NOTIFY from another connection, with its payload")
    func receivesNotification() async throws {
        try await withListener(channels: ["jobs_ready"]) { listener, sender, _ in
            try await sender.execute("NOTIFY jobs_ready, 'hello world'")
            #expect(try await nextEvent(listener, "the first notification") == .notification(channel: "jobs_ready", payload: "hello world"))

            // Payloads are data: quotes, unicode and an empty payload survive.
            let payload = "it's \"quoted\" — ünïcødé 🎉, {braces}"
            try await sender.query("SELECT pg_notify($1, $2)", ["jobs_ready", payload])
            #expect(try await nextEvent(listener, "a pg_notify notification") == .notification(channel: "jobs_ready", payload: payload))
            try await sender.execute("NOTIFY jobs_ready")
            #expect(try await nextEvent(listener, "a notification without payload") == .notification(channel: "jobs_ready", payload: ""))

            // Several in one transaction arrive at commit, in order.
            try await sender.transaction { connection in
                for index in 1...3 { try await connection.query("SELECT pg_notify('jobs_ready', $1)", ["n\(index)"]) }
            }
            for index in 1...3 {
                #expect(
                    try await nextEvent(listener, "notification n\(index)") == .notification(channel: "jobs_ready", payload: "n\(index)"))
            }
        }
    }

    @Test("listens on every channel it was given, and only those")
    func severalChannels() async throws {
        try await withListener(channels: ["alpha", "beta_2", "_gamma"]) { listener, sender, _ in
            try await sender.execute("NOTIFY unrelated, 'must not arrive'")
            try await sender.execute("NOTIFY beta_2, 'b'")
            #expect(try await nextEvent(listener, "beta_2") == .notification(channel: "beta_2", payload: "b"))
            try await sender.execute("NOTIFY _gamma, 'g'")
            try await sender.execute("NOTIFY alpha, 'a'")
            #expect(try await nextEvent(listener, "_gamma") == .notification(channel: "_gamma", payload: "g"))
            #expect(try await nextEvent(listener, "alpha") == .notification(channel: "alpha", payload: "a"))
        }
    }

    @Test("does not receive notifications from a rolled-back transaction")
    func rolledBackNotification() async throws {
        try await withListener(channels: ["jobs_ready"]) { listener, sender, _ in
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await sender.transaction { connection in
                    try await connection.execute("NOTIFY jobs_ready, 'rolled back'")
                    throw Abort()
                }
            }
            try await sender.execute("BEGIN; NOTIFY jobs_ready, 'also rolled back'; ROLLBACK")
            try await sender.execute("NOTIFY jobs_ready, 'committed'")
            #expect(
                try await nextEvent(listener, "the committed notification") == .notification(channel: "jobs_ready", payload: "committed"))
        }
    }

    @Test("after its backend is terminated it reconnects, says so, and receives again")
    func reconnectsAfterTermination() async throws {
        try await withListener(channels: ["jobs_ready"]) { listener, sender, _ in
            try await sender.execute("NOTIFY jobs_ready, 'before'")
            #expect(
                try await nextEvent(listener, "a notification before termination")
                    == .notification(channel: "jobs_ready", payload: "before"))

            let before = try await listenerBackends(sender)
            #expect(before.count == 1)
            let terminated = try await sender.query(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ledgersync-listener'"
            ).rows[0]
            #expect(try terminated.decode("n", as: Int.self) == 1)

            #expect(try await nextEvent(listener, ".reconnected", within: 30) == .reconnected)
            let after = try await listenerBackends(sender)
            #expect(after.count == 1)
            #expect(Set(after).isDisjoint(with: before), "still on the terminated backend")

            try await sender.execute("NOTIFY jobs_ready, 'after'")
            #expect(
                try await nextEvent(listener, "a notification after reconnecting") == .notification(channel: "jobs_ready", payload: "after")
            )

            // And once more, to see the reconnection is repeatable.
            _ = try await sender.query(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'ledgersync-listener'"
            )
            #expect(try await nextEvent(listener, "a second .reconnected", within: 30) == .reconnected)
            try await sender.execute("NOTIFY jobs_ready, 'again'")
            #expect(
                try await nextEvent(listener, "a notification after the second reconnection")
                    == .notification(channel: "jobs_ready", payload: "again"))
        }
    }

    @Test("stop() ends the event stream and closes the connection")
    func stopEndsStream() async throws {
        try await withListener(channels: ["jobs_ready"]) { listener, sender, _ in
            #expect(try await listenerBackends(sender).count == 1)
            listener.stop()
            let ended = try await withTimeout(.seconds(20), "the event stream to end") {
                for await _ in listener.events {}
                return true
            }
            #expect(ended)
            let gone = try await eventually(timeout: .seconds(20)) { try await listenerBackends(sender).isEmpty }
            #expect(gone, "the listener's connection is still open after stop()")
        }
    }

    @Test(
        "invalid channel names are rejected before connecting",
        arguments: ["", "1jobs", "jobs-ready", "jobs ready", "jobs;", "jobs\"; DROP TABLE x; --", "jobs.ready", "$jobs"])
    func invalidChannel(name: String) async throws {
        // A URL nothing listens on: rejecting the name must not need a server.
        let error = await #expect(throws: PostgresError.self) {
            _ = try await Listener(url: "postgresql://postgres@127.0.0.1:1/postgres", channels: ["valid", name], logger: quietLogger)
        }
        #expect(error?.code == .usage)
        #expect(error?.message.contains("'\(name)'") == true, "\(String(describing: error))")
    }

    @Test("valid channel names: lower-case letters, digits after the first, underscores, at most 63 bytes")
    func validChannelNames() {
        for name in ["jobs", "_jobs", "jobs_2", "a", String(repeating: "a", count: 63)] {
            #expect(Listener.isIdentifier(name), "\(name)")
        }
        // Capitals and non-ASCII letters would need quoting to match, and `NOTIFY Jobs` folds
        // to `jobs`: such a listener would silently miss notifications.
        for name in ["", "2jobs", "jobs-2", "jobs 2", "jobs\"", "jobs'", "jobs\n", "Jobs", "ünï", String(repeating: "a", count: 64)] {
            #expect(!Listener.isIdentifier(name), "\(name.debugDescription)")
        }
    }

    @Test("a first connection that fails makes init throw connectionFailed")
    func firstConnectionFails() async throws {
        let error = await #expect(throws: PostgresError.self) {
            _ = try await Listener(url: "postgresql://postgres@127.0.0.1:1/postgres", channels: ["jobs"], logger: quietLogger)
        }
        #expect(error?.code == .connectionFailed)
        #expect(listenerTestIsOneLine(error?.description))
    }
}
