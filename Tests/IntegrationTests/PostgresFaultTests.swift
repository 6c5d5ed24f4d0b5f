import Moderation
import AuditStore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension FaultTests {
    /// PostgreSQL faults with real test workers: the server stopped and restarted (a separate
    /// throwaway cluster), connections killed, statements timing out, the database turned
    /// read-only (the stand-in for a full disk). The worker stops taking work, reports not ready on
    /// `/ready`, retries with backoff, never commits an offset past a request without an audit row,
    /// and the invariant holds once the database is back.
    @Suite struct PostgresFaultTests {
        /// Terminates every session of `database` except the caller's; returns how many.
        @discardableResult
        static func terminateSessions(of database: String, adminURL: String) async throws -> Int {
            let admin = try await Connection.connect(url: adminURL)
            defer { Task { await admin.close() } }
            let rows = try await admin.query("""
                SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
                WHERE datname = \(database) AND pid <> pg_backend_pid()
                """)
            return Array(rows).count
        }

        /// The database name of a libpq URL.
        static func databaseName(_ url: String) -> String {
            URLComponents(string: url).map { String($0.path.dropFirst()) } ?? ""
        }

        /// Kills every worker, reads the group's committed offsets and checks that none passes a
        /// request without an audit row.
        static func killAllAndCheckCommits(_ run: FaultRun) async throws {
            for worker in run.workers { worker.kill9() }
            let committed = try await run.committedOffsets()
            let covered = try await run.checkNoCommitPastMissingAuditRow(committed)
            #expect(covered > 0, "some offsets were committed before the fault")
        }

        /// Sessions of the workers are killed (`pg_terminate_backend`) again and again while
        /// requests flow; each call reconnects (or is retried) and nothing is lost.
        @Test(.timeLimit(.minutes(4)))
        func connectionsKilledRepeatedly() async throws {
            let run = try await FaultRun(.init(name: "pgkill"))
            do {
                let adminURL = try IntegrationEnvironment.postgresURL()
                let name = Self.databaseName(run.databaseURL)
                let first = try await run.produceValid(30, prefix: "kill")
                #expect(try await run.watch(until: { $0.delivered(first) >= 3 }), "work flows before the fault")
                var killed = 0
                for _ in 0..<8 {
                    killed += try await Self.terminateSessions(of: name, adminURL: adminURL)
                    try await run.watch(for: .milliseconds(300))
                }
                #expect(killed >= 3, "worker sessions were terminated")
                try await run.produceValid(10, prefix: "after")
                try await run.waitForAll()
                let report = try await run.verify()
                print("pg_terminate_backend x8 (\(killed) sessions): \(report)")
            } catch { Issue.record(error) }
            await run.finish()
        }

        /// The decisions table is locked for a few seconds and the workers' sessions have a 300 ms
        /// statement timeout: their statements fail (SQLSTATE 57014), they report not ready and
        /// retry, and once the lock is gone they finish everything.
        @Test(.timeLimit(.minutes(4)))
        func statementTimeout() async throws {
            let database = try await FreshDatabase.create(prefix: "chaperone_fault")
            var options = FaultRun.Options(name: "pgtimeout")
            options.databaseURL = database.url + "?options=-c%20statement_timeout%3D300"
            options.statusPorts = true
            let run = try await FaultRun(options)
            do {
                let first = try await run.produceValid(9, prefix: "before")
                #expect(try await run.watch(until: { $0.delivered(first) == first.count }), "work flows before the fault")
                let locker = try await Connection.connect(url: database.url)
                let lock = Task {
                    try await locker.transaction { session in
                        try session.query("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")
                        Thread.sleep(forTimeInterval: 4)
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                let during = try await run.produceValid(12, prefix: "locked")
                let notReady = try await run.waitForAnyReady(code: 503, timeout: .seconds(3))
                #expect(notReady?.code == 503, "a worker whose statements time out is not ready: \(String(describing: notReady))")
                #expect(notReady?.body.contains("audit") == true, "\(String(describing: notReady))")
                #expect(run.delivered(during) == 0, "nothing is published while the audit table is locked")
                try await lock.value
                await locker.close()
                try await run.waitForAll()
                let ready = try await run.waitForReady(0, code: 200, timeout: .seconds(10))
                #expect(ready?.code == 200, "ready again once statements succeed")
                let report = try await run.verify()
                let logs = run.workers.map(\.logTail).joined()
                #expect(logs.contains("statement timeout") || logs.contains("57014") || logs.contains("canceling statement"), "the timeout is logged")
                print("statement timeout: \(report)")
            } catch { Issue.record(error) }
            await run.finish()
            await database.drop()
        }

        /// The database turns read-only (`default_transaction_read_only`, the full-disk stand-in):
        /// inserts fail, nothing is published or committed for the requests that arrive, `/ready`
        /// says why; once writable again everything is delivered.
        @Test(.timeLimit(.minutes(4)))
        func readOnlyDatabase() async throws {
            var options = FaultRun.Options(name: "pgro")
            options.statusPorts = true
            let run = try await FaultRun(options)
            do {
                let adminURL = try IntegrationEnvironment.postgresURL()
                let name = Self.databaseName(run.databaseURL)
                let first = try await run.produceValid(9, prefix: "before")
                #expect(try await run.watch(until: { $0.delivered(first) == first.count }), "work flows before the fault")
                let admin = try await Connection.connect(url: adminURL)
                try await admin.query("ALTER DATABASE \(identifier: name) SET default_transaction_read_only = on")
                try await Self.terminateSessions(of: name, adminURL: adminURL)
                let during = try await run.produceValid(18, prefix: "readonly")
                var notReady = 0
                for index in run.workers.indices {
                    if let status = try await run.waitForReady(index, code: 503, timeout: .seconds(4)), status.code == 503 {
                        notReady += 1
                        #expect(status.body.contains("audit"), "\(status.body)")
                    }
                }
                #expect(notReady >= 1, "workers that cannot write report not ready")
                #expect(run.delivered(during) == 0, "nothing is published while the database is read-only")
                try await Self.killAllAndCheckCommits(run)
                try await admin.query("ALTER DATABASE \(identifier: name) RESET default_transaction_read_only")
                await admin.close()
                for index in run.workers.indices { try run.restart(index) }
                try await run.waitForAll()
                let report = try await run.verify()
                print("read-only database: \(report)")
            } catch { Issue.record(error) }
            await run.finish()
        }

        /// The PostgreSQL server (a separate throwaway cluster) stops mid-run and starts again,
        /// twice. First outage: every worker reports not ready, nothing is published, and the
        /// running workers recover in place once the server is back (ready, everything delivered).
        /// Second outage: the workers are killed while the server is down, and no committed offset
        /// passes a request without an audit row. At the end every request has exactly one row
        /// and at least one identical published copy.
        @Test(.timeLimit(.minutes(3)))
        func serverStoppedAndRestarted() async throws {
            let started = ContinuousClock.now
            let server = try ThrowawayPostgres()
            do {
                try await server.run("start")
                var options = FaultRun.Options(name: "pgstop")
                options.databaseURL = server.url
                options.statusPorts = true
                options.environment["CHAPERONE_DATABASE_PROBE_INTERVAL_MS"] = "500"
                let run = try await FaultRun(options)
                do {
                    try await Self.stopAndRestart(server, run)
                } catch { Issue.record(error) }
                await run.finish()
            } catch { Issue.record(error) }
            await server.destroy()
            print("PostgreSQL stopped and restarted: \(ContinuousClock.now - started) in all")
        }

        static func stopAndRestart(_ server: ThrowawayPostgres, _ run: FaultRun) async throws {
            let first = try await run.produceValid(9, prefix: "before")
            #expect(try await run.watch(until: { $0.delivered(first) == first.count }, timeout: .seconds(60)), "work flows before the fault")

            // First outage: the workers keep running and recover in place.
            try await server.run("stop")
            let during = try await run.produceValid(24, prefix: "stopped")
            for index in run.workers.indices {
                let status = try await run.waitForReady(index, code: 503, timeout: .seconds(5))
                #expect(status?.code == 503, "worker \(index) is not ready while PostgreSQL is down: \(String(describing: status))")
                #expect(status?.body.contains("audit") == true, "\(String(describing: status))")
            }
            // The idle check may turn them not ready first; the requests then reach their inserts.
            let retrying = try await run.watch(until: { $0.workers.contains { $0.logTail.contains("audit unavailable, retrying") } }, timeout: .seconds(20))
            #expect(retrying, "the workers retry their inserts: \(run.logTails.suffix(1200))")
            #expect(run.delivered(during) == 0, "nothing is published while PostgreSQL is down")
            try await server.run("start")
            let back = ContinuousClock.now
            #expect(try await run.waitForAll(timeout: .seconds(60)), "the running workers finish everything once PostgreSQL is back")
            print("PostgreSQL back: the \(during.count) requests held during the outage delivered \(ContinuousClock.now - back) later")
            for index in run.workers.indices {
                let status = try await run.waitForReady(index, code: 200, timeout: .seconds(10))
                #expect(status?.code == 200, "worker \(index) is ready again: \(String(describing: status))")
            }

            // Second outage: the workers die while the server is down.
            try await server.run("stop")
            let late = try await run.produceValid(12, prefix: "killed")
            let notReady = try await run.waitForAnyReady(code: 503, timeout: .seconds(5))
            #expect(notReady?.code == 503, "\(String(describing: notReady))")
            try await run.watch(for: .seconds(1))
            #expect(run.delivered(late) == 0, "nothing is published while PostgreSQL is down")
            for worker in run.workers { worker.kill9() }
            try await server.run("start")
            let committed = try await run.committedOffsets()
            let covered = try await run.checkNoCommitPastMissingAuditRow(committed)
            #expect(covered >= first.count + during.count, "the offsets of the delivered requests were committed (\(covered))")
            let audit = try await AuditRepository.connect(url: run.databaseURL)
            let rows = try await audit.count()
            await audit.connection.close()
            #expect(rows < run.expected.count, "some requests had no audit row when the offsets were read (\(rows) of \(run.expected.count))")
            for index in run.workers.indices { try run.restart(index) }
            #expect(try await run.waitForAll(timeout: .seconds(60)))
            let report = try await run.verify()
            #expect(report.requests == first.count + during.count + late.count)
            print("PostgreSQL stopped and restarted: \(report); committed offsets cover \(covered) requests")
        }

        /// A worker with no request to work follows the database all the same (its idle check):
        /// the server stopped turns `/ready` to 503 within a few seconds and back to 200 once it
        /// runs again; so does the database turned read-only and writable again, and a request
        /// that arrives while it is read-only is delivered, by the same process, once it is not.
        @Test(.timeLimit(.minutes(2)))
        func idleWorkerFollowsTheDatabase() async throws {
            let started = ContinuousClock.now
            let server = try ThrowawayPostgres()
            do {
                try await server.run("start")
                var options = FaultRun.Options(name: "pgidle")
                options.databaseURL = server.url
                options.statusPorts = true
                options.workers = 1
                options.environment["CHAPERONE_DATABASE_PROBE_INTERVAL_MS"] = "500"
                let run = try await FaultRun(options)
                do {
                    try await Self.idleChecks(server, run)
                } catch { Issue.record(error) }
                await run.finish()
            } catch { Issue.record(error) }
            await server.destroy()
            print("idle worker follows the database: \(ContinuousClock.now - started) in all")
        }

        /// The PostgreSQL server goes silent: every process of a separate throwaway cluster is
        /// stopped (SIGSTOP), so connections stay open and TCP still acknowledges, but nothing
        /// answers and the server cannot enforce its own statement timeout. Each worker notices
        /// within its configured bounds (2 s statement timeout plus the grace second, 2 s
        /// connect timeout, 500 ms idle check), reports not ready and publishes nothing; after
        /// SIGCONT the same processes deliver everything and are ready again.
        @Test(.timeLimit(.minutes(2)))
        func silentServerIsDetectedAndRecovered() async throws {
            let started = ContinuousClock.now
            let server = try ThrowawayPostgres()
            do {
                try await server.run("start")
                var options = FaultRun.Options(name: "pgsilent")
                options.databaseURL = server.url
                options.statusPorts = true
                options.workers = 2
                options.environment["CHAPERONE_DATABASE_PROBE_INTERVAL_MS"] = "500"
                options.environment["CHAPERONE_DATABASE_STATEMENT_TIMEOUT_MS"] = "2000"
                options.environment["CHAPERONE_DATABASE_CONNECT_TIMEOUT_MS"] = "2000"
                let run = try await FaultRun(options)
                do {
                    try await Self.silence(server, run)
                } catch { Issue.record(error) }
                // Never leave the server stopped: finishing and destroying it need it running.
                _ = try? server.signal(SIGCONT)
                await run.finish()
            } catch { Issue.record(error) }
            _ = try? server.signal(SIGCONT)
            await server.destroy()
            print("silent PostgreSQL: \(ContinuousClock.now - started) in all")
        }

        static func silence(_ server: ThrowawayPostgres, _ run: FaultRun) async throws {
            let first = try await run.produceValid(6, prefix: "before")
            #expect(try await run.watch(until: { $0.delivered(first) == first.count }, timeout: .seconds(60)), "work flows before the fault")
            for index in run.workers.indices {
                let status = try await run.waitForReady(index, code: 200, timeout: .seconds(20))
                #expect(status?.code == 200, "worker \(index) is ready before the fault: \(String(describing: status))")
            }

            let stopped = try server.signal(SIGSTOP)
            let stoppedAt = ContinuousClock.now
            #expect(stopped.count >= 2, "the postmaster and its children are stopped: \(stopped)")
            let during = try await run.produceValid(12, prefix: "silent")
            var unready: [Duration] = []
            for index in run.workers.indices {
                let status = try await run.waitForReady(index, code: 503, timeout: .seconds(15))
                unready.append(ContinuousClock.now - stoppedAt)
                #expect(status?.code == 503, "worker \(index) is not ready while PostgreSQL is silent: \(String(describing: status))")
                // "did not answer within", "no answer to the readiness check", "could not connect …: no answer".
                #expect(status?.body.contains("audit") == true && status?.body.contains("answer") == true, "\(String(describing: status))")
            }
            let detection = unready.max() ?? .zero
            #expect(detection < .seconds(8), "every worker is unready within the statement timeout, the grace second and a check: \(unready)")
            // The calls in flight are given up, not left hanging: the requests' inserts and the idle checks.
            let gaveUp = try await run.watch(until: { run in run.workers.allSatisfy { $0.logTail.contains("did not answer") } }, timeout: .seconds(10))
            #expect(gaveUp, "each worker gives a silent call up: \(run.logTails.suffix(1500))")
            let givenUpAt = ContinuousClock.now - stoppedAt
            try await run.watch(for: .seconds(1))
            #expect(run.delivered(during) == 0, "nothing is published while PostgreSQL is silent")
            #expect(run.workers.allSatisfy { $0.isRunning }, "no worker died")

            _ = try server.signal(SIGCONT)
            let resumedAt = ContinuousClock.now
            #expect(try await run.waitForAll(timeout: .seconds(45)), "the same workers deliver everything once PostgreSQL answers again")
            let delivered = ContinuousClock.now - resumedAt
            var ready: [Duration] = []
            for index in run.workers.indices {
                let status = try await run.waitForReady(index, code: 200, timeout: .seconds(15))
                ready.append(ContinuousClock.now - resumedAt)
                #expect(status?.code == 200, "worker \(index) is ready again: \(String(describing: status))")
            }
            #expect(run.workers.allSatisfy { $0.isRunning }, "no restart was needed")
            let report = try await run.verify()
            #expect(report.requests == first.count + during.count)
            print("silent PostgreSQL: workers unready \(unready.map { "\(Int($0.milliseconds)) ms" }) after SIGSTOP, "
                + "silent calls given up by \(Int(givenUpAt.milliseconds)) ms; after SIGCONT the \(during.count) held requests delivered in "
                + "\(Int(delivered.milliseconds)) ms, workers ready at \(ready.map { "\(Int($0.milliseconds)) ms" }); \(report)")
        }

        /// Polls `/ready` of worker 0 until it answers `code`; returns the answer and how long after `start` it came.
        static func timeUntilReady(
            _ run: FaultRun, code: Int, since start: ContinuousClock.Instant, timeout: Duration
        ) async throws -> (status: (code: Int, body: String)?, after: Duration) {
            let status = try await run.waitForReady(0, code: code, timeout: timeout)
            return (status, ContinuousClock.now - start)
        }

        static func idleChecks(_ server: ThrowawayPostgres, _ run: FaultRun) async throws {
            let up = try await run.waitForReady(0, code: 200, timeout: .seconds(60))
            #expect(up?.code == 200, "the worker starts ready: \(String(describing: up))")

            var faultAt = ContinuousClock.now
            try await server.run("stop")
            let down = try await timeUntilReady(run, code: 503, since: faultAt, timeout: .seconds(10))
            #expect(down.status?.code == 503 && down.after < .seconds(4), "an idle worker is not ready within 4 s of the server being stopped: \(String(describing: down))")
            #expect(down.status?.body.hasPrefix("audit: ") == true, "\(String(describing: down.status))")
            let metrics = await run.status(0, "/metrics")?.body ?? ""
            let failures = metrics.split(separator: "\n").first { $0.hasPrefix("chaperone_idle_probe_failures_total{dependency=\"audit\"}") }
            let count = failures.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0
            #expect(count >= 1, "failed checks are counted: \(failures ?? "no such metric")")
            faultAt = ContinuousClock.now
            try await server.run("start")
            let back = try await timeUntilReady(run, code: 200, since: faultAt, timeout: .seconds(10))
            #expect(back.status?.code == 200 && back.after < .seconds(4), "ready within 4 s of the server starting: \(String(describing: back))")
            let log = run.workers[0].logTail
            #expect(log.contains("audit unavailable while idle: not ready") && log.contains("audit available again: ready"), "\(log.suffix(800))")

            // Read-only (the full-disk stand-in), noticed by the idle check once the sessions start again.
            let name = databaseName(server.url)
            let adminURL = try IntegrationEnvironment.url(server.url, database: "postgres")
            let admin = try await Connection.connect(url: adminURL)
            try await admin.query("ALTER DATABASE \(identifier: name) SET default_transaction_read_only = on")
            faultAt = ContinuousClock.now
            let killed = try await terminateSessions(of: name, adminURL: adminURL)
            #expect(killed >= 1, "the worker's session was terminated")
            let readOnly = try await timeUntilReady(run, code: 503, since: faultAt, timeout: .seconds(10))
            #expect(readOnly.status?.code == 503 && readOnly.after < .seconds(4), "\(String(describing: readOnly))")
            #expect(readOnly.status?.body.contains("read-only") == true, "\(String(describing: readOnly.status))")
            let during = try await run.produceValid(3, prefix: "readonly")
            try await run.watch(for: .seconds(2))
            #expect(run.delivered(during) == 0, "nothing is published while the database is read-only")
            try await admin.query("ALTER DATABASE \(identifier: name) RESET default_transaction_read_only")
            await admin.close()
            #expect(try await run.waitForAll(timeout: .seconds(30)), "the same worker delivers them once the database is writable")
            let writable = try await run.waitForReady(0, code: 200, timeout: .seconds(10))
            #expect(writable?.code == 200, "\(String(describing: writable))")
            #expect(run.workers[0].isRunning, "no restart was needed")
            let report = try await run.verify()
            print("idle worker: not ready \(down.after) after the stop began, ready \(back.after) after the start began, not ready \(readOnly.after) after read-only; \(report)")
        }
    }
}

/// A PostgreSQL cluster of its own (ops/lib/postgres.sh in a temporary folder on a free port),
/// for the test that stops the server: the shared test cluster is never stopped.
struct ThrowawayPostgres {
    let folder: URL
    let port: Int

    init() throws {
        folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("chaperone-pg-\(UInt32.random(in: 0...UInt32.max))")
        port = try freeLoopbackPort()
    }

    var url: String { "postgresql://postgres@127.0.0.1:\(port)/chaperone" }

    /// Runs `ops/lib/postgres.sh <command>` for this cluster; throws with its output on failure
    /// or when it takes longer than `timeout` (then it is killed).
    ///
    /// The script runs through a shell that first closes every descriptor it inherited above
    /// stderr. Foundation's `Process` learns that a child ended when the child's end of a socket
    /// pair it hands down is closed; the server that `start` leaves running would inherit that
    /// end and hold it for its whole life, and waiting for the script would never return.
    func run(_ command: String, timeout: Duration = .seconds(90)) async throws {
        let script = IntegrationEnvironment.repositoryRoot.appendingPathComponent("ops/lib/postgres.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", Self.closeInheritedDescriptorsAndRun, script, command]
        var environment = ProcessInfo.processInfo.environment
        environment["CHAPERONE_POSTGRES_DIR"] = folder.path
        environment["CHAPERONE_POSTGRES_PORT"] = "\(port)"
        process.environment = environment
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-pg-\(UInt32.random(in: 0...UInt32.max)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close(); try? FileManager.default.removeItem(at: log) }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        if process.isRunning {
            _ = kill(process.processIdentifier, SIGKILL)
            throw IntegrationError("ops/lib/postgres.sh \(command) did not finish within \(timeout): \(text())")
        }
        guard process.terminationStatus == 0 else {
            throw IntegrationError("ops/lib/postgres.sh \(command) failed (\(process.terminationStatus)): \(text())")
        }
    }

    /// `bash -c` program: close descriptors 3 and up, then run `$0 "$@"`.
    static let closeInheritedDescriptorsAndRun = """
        for fd in /proc/self/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done 2>/dev/null
        exec "$0" "$@"
        """

    /// Sends `signal` to the cluster's postmaster (from `postmaster.pid`) and to each of its
    /// child processes (from `/proc`), postmaster first; returns the process ids signalled.
    /// SIGSTOP makes the whole server silent, SIGCONT wakes it.
    @discardableResult
    func signal(_ signal: Int32) throws -> [Int32] {
        let pidFile = folder.appendingPathComponent("data/postmaster.pid").path
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let line = text.split(separator: "\n").first, let postmaster = Int32(line.trimmingCharacters(in: .whitespaces))
        else { throw IntegrationError("no postmaster.pid in \(folder.path)") }
        var targets = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // "pid (comm) state ppid …": the command may hold spaces and parentheses.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { targets.append(pid) }
        }
        for pid in targets {
            // A child that exited meanwhile (ESRCH) is fine.
            if kill(pid, signal) != 0, errno != ESRCH {
                throw IntegrationError("kill(\(pid), \(signal)) failed: errno \(errno)")
            }
        }
        return targets
    }

    /// Stops the cluster and deletes its folder.
    func destroy() async {
        try? await run("destroy")
        try? FileManager.default.removeItem(at: folder)
        try? FileManager.default.removeItem(atPath: folder.path + ".lock")
    }
}
