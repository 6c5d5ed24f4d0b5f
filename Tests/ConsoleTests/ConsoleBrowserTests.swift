import AuditStore
import Console
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The console in a real browser: headless Chromium (Debian's `chromium`) driven through
/// `chromedriver`'s W3C WebDriver API. Logs in, filters, opens decisions, reveals a blurred image,
/// records a verdict and checks what a person sees, for a reviewer and an analyst. Screenshots of
/// the main pages go to `.build/test-output/console/`.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let available = chromium != nil && chromedriver != nil
    static let screenshots = ConsoleFixture.root.appendingPathComponent(".build/test-output/console", isDirectory: true)

    @Test(.enabled(if: available, "chromium and chromium-driver are not installed here (ops/lib/deps.sh installs them; CI has them)"))
    func reviewerAndAnalystInTheBrowser() async throws {
        try FileManager.default.createDirectory(at: Self.screenshots, withIntermediateDirectories: true)
        try await ConsoleFixture.with { fixture in
            try await Self.withLiveConsole(fixture.store) { console in
                try await Self.withChromeDriver { driverURL in
                    let browser = try await WebDriver.start(chromedriver: driverURL, chromium: Self.chromium!)
                    do {
                        try await Self.reviewerSession(browser, console: console, fixture: fixture)
                        await browser.quit()
                    } catch {
                        try? Data(try await browser.screenshot()).write(to: Self.screenshots.appendingPathComponent("failure-reviewer.png"))
                        await browser.quit()
                        throw error
                    }
                    let analyst = try await WebDriver.start(chromedriver: driverURL, chromium: Self.chromium!)
                    do {
                        try await Self.analystSession(analyst, console: console)
                        await analyst.quit()
                    } catch {
                        try? Data(try await analyst.screenshot()).write(to: Self.screenshots.appendingPathComponent("failure-analyst.png"))
                        await analyst.quit()
                        throw error
                    }
                }
            }
        }
    }

    static func login(_ browser: WebDriver, console: String, user: (name: String, password: String)) async throws {
        try await browser.navigate(console + "/decisions")
        #expect(try await browser.currentURL().contains("/login?next=%2Fdecisions"))
        try await browser.type("#name", user.name)
        try await browser.type("#password", user.password)
        try await browser.click("button[type=submit]")
        #expect(try await browser.currentURL() == console + "/decisions")
    }

    static func reviewerSession(_ browser: WebDriver, console: String, fixture: ConsoleFixture) async throws {
        // A wrong password first: the person sees why.
        try await browser.navigate(console + "/login")
        try await snap(browser, "01-login")
        try await browser.type("#name", ConsoleFixture.reviewer.name)
        try await browser.type("#password", "not-the-password")
        try await browser.click("button[type=submit]")
        #expect(try await browser.text("#login-error") == "Wrong user name or password.")

        try await login(browser, console: console, user: ConsoleFixture.reviewer)
        #expect(try await browser.text("nav .who").contains("rev · REVIEWER"))
        #expect(try await browser.elements("#decisions tbody tr").count == 5)
        // Thumbnails loaded (a broken image has naturalWidth 0); the censored one is blurred.
        let thumbs = "return Array.from(document.querySelectorAll('img.thumb')).map(i => i.complete ? i.naturalWidth : 0)"
        try await browser.waitUntil("return Array.from(document.querySelectorAll('img.thumb')).every(i => i.complete)")
        #expect((try await browser.execute(thumbs) as? [Any])?.compactMap { $0 as? Int } == [64, 64, 64])
        try await snap(browser, "02-decisions")

        // Filter by decision through the form.
        try await browser.click("#f-decision option[value=censor]")
        try await browser.click("#f-apply")
        #expect(try await browser.currentURL().contains("decision=censor"))
        let filtered = try await browser.execute("return Array.from(document.querySelectorAll('#decisions tbody tr')).map(r => r.dataset.request)") as? [String]
        #expect(filtered == ["r-censor-ref", "r-censor-1"])
        try await snap(browser, "03-decisions-filtered")

        // The blocked decision: its image blurred until clicked.
        try await browser.navigate(console + "/decisions?tenant=globex&decision=block")
        try await browser.click("a.request-link")
        #expect(try await browser.text("#request-id") == "r-block-1")
        let blur = "return getComputedStyle(document.getElementById('decision-image')).filter"
        #expect((try await browser.execute(blur) as? String)?.contains("blur") == true)
        try await browser.waitUntil("return document.getElementById('decision-image').complete")
        #expect(try await browser.execute("return document.getElementById('decision-image').naturalWidth") as? Int == 64)
        try await snap(browser, "04-decision-blocked-blurred")
        try await browser.click("#reveal")
        #expect(try await browser.execute(blur) as? String == "none")
        #expect(try await browser.text("#source") == "chaperone.requests / partition 3 @ offset 12")
        try await snap(browser, "05-decision-blocked-revealed")

        // A censored decision: the reviewer also sees the withheld original, blurred until clicked.
        try await browser.navigate(console + "/decision?id=r-censor-1")
        let originalBlur = "return getComputedStyle(document.getElementById('original-image')).filter"
        #expect((try await browser.execute(originalBlur) as? String)?.contains("blur") == true)
        try await browser.waitUntil("return document.getElementById('original-image').complete")
        #expect(try await browser.execute("return document.getElementById('original-image').naturalWidth") as? Int == 64)
        try await browser.click("#reveal-original")
        #expect(try await browser.execute(originalBlur) as? String == "none")
        try await snap(browser, "06-decision-censored-original")

        // A verdict on the censored decision.
        try await browser.click("#verdict-overturn")
        try await browser.type("#review-note", "a swimsuit, not nudity")
        try await browser.click("#review-submit")
        #expect(try await browser.text("#message") == "Your verdict (overturn) is recorded.")
        #expect(try await browser.cells("#reviews tbody tr").dropFirst() == ["rev", "overturn", "a swimsuit, not nudity"])
        try await snap(browser, "07-decision-verdict")
        let stored = try await fixture.admin.query("SELECT reviewer, verdict, note FROM reviews").single("review")
        #expect(try stored.decode("reviewer", as: String.self) == "rev")
        #expect(try stored.decode("verdict", as: String.self) == "overturn")

        try await browser.navigate(console + "/reviews")
        #expect(try await browser.cells("#overturn-rates tbody tr") == ["nudenet", "FEMALE_BREAST_EXPOSED", "1", "1", "100.0%"])
        try await snap(browser, "08-reviews")
        try await browser.navigate(console + "/charts")
        #expect(try await browser.elements("svg").count == 5)
        #expect(try await browser.text("#chart-over-time-range").hasPrefix("Over the 30 days before the newest decision: 5 decisions"))
        try await snap(browser, "09-charts")
        // A range picked in the form narrows decisions over time (a date-time field is set as a person's picker would).
        _ = try await browser.execute("document.getElementById('c-from').value = '2026-11-28T00:06'; document.getElementById('c-to').value = '2026-11-28T00:16'")
        try await browser.click("#c-apply")
        #expect(try await browser.currentURL().contains("from=2026-11-28T00%3A06"))
        #expect(try await browser.text("#chart-over-time-range")
            == "Over the chosen range: 2 decisions, minute buckets from 2026-11-28 00:10:00Z to 2026-11-28 00:15:00Z.")
        #expect(try await browser.execute("return document.getElementById('c-from').value") as? String == "2026-11-28T00:06")
        try await snap(browser, "09b-charts-range")

        try await browser.click("form.logout button")
        #expect(try await browser.currentURL() == console + "/login")
        try await browser.navigate(console + "/reviews")
        #expect(try await browser.currentURL().contains("/login"))
    }

    static func analystSession(_ browser: WebDriver, console: String) async throws {
        try await login(browser, console: console, user: ConsoleFixture.analyst)
        try await browser.navigate(console + "/decision?id=r-block-1")
        #expect(try await browser.text("#image-withheld") == "The image of a blocked decision is shown to reviewers only.")
        #expect(try await browser.elements("#review-form").isEmpty)
        #expect(try await browser.elements("#decision-image").isEmpty)
        try await snap(browser, "10-analyst-blocked")
        try await browser.navigate(console + "/decision?id=r-censor-1")
        #expect(try await browser.elements("#review-form").isEmpty)
        #expect(try await browser.cells("#reviews tbody tr").dropFirst() == ["rev", "overturn", "a swimsuit, not nudity"])
    }

    static func snap(_ browser: WebDriver, _ name: String) async throws {
        try await browser.screenshot().write(to: screenshots.appendingPathComponent(name + ".png"))
    }

    // MARK: Processes

    /// Serves the console on a free loopback port while `body` runs (Hummingbird's live test
    /// server, which starts and stops the application around `body`).
    static func withLiveConsole(_ store: ConsoleStore, _ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let server = ConsoleServer(store: store, configuration: ConsoleConfiguration())
        try await server.application().test(.live) { client in
            guard let port = client.port else { throw FixtureError("the live console has no port") }
            try await body("http://localhost:\(port)")
        }
    }

    /// Runs chromedriver on a free loopback port while `body` runs.
    static func withChromeDriver(_ body: (URL) async throws -> Void) async throws {
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromedriver!)
        process.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        let log = screenshots.appendingPathComponent("chromedriver.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        do {
            try await driven(process, port: port, log: log, body)
        } catch {
            await stop(process)
            try? handle.close()
            throw error
        }
        await stop(process)
        try? handle.close()
    }

    /// Stops chromedriver: SIGTERM, then SIGKILL if it is still there after 2 s (waiting without
    /// blocking a thread), so no driver outlives the test.
    static func stop(_ process: Process) async {
        process.terminate()
        for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
    }

    private static func driven(_ process: Process, port: Int, log: URL, _ body: (URL) async throws -> Void) async throws {
        let url = URL(string: "http://127.0.0.1:\(port)")!
        var ready = false
        var problem = "no answer"
        for _ in 0..<100 where !ready {
            do {
                let data = try await WebDriver.curl(["-sS", "--max-time", "5", url.appendingPathComponent("status").absoluteString])
                ready = String(decoding: data, as: UTF8.self).replacingOccurrences(of: " ", with: "").contains("\"ready\":true")
                problem = String(decoding: data, as: UTF8.self)
            } catch {
                problem = "\(error)"
            }
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw FixtureError("chromedriver did not become ready on port \(port) (\(problem)); see \(log.path)") }
        try await body(url)
    }

    /// A loopback TCP port nobody listens on now.
    static func freePort() throws -> Int { try LoopbackSocket.freePort() }
}
