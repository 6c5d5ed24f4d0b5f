import AuditStore
import Console
import Contracts
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every route of the console, for each role and without a session, over HTTP (Hummingbird's
/// router test client) against a real PostgreSQL.
@Suite struct ConsoleHTTPTests {
    /// Runs `body` with a test client of the console on a seeded database.
    static func withConsole(pageSize: Int = 25, _ body: @escaping @Sendable (ConsoleFixture, any TestClientProtocol) async throws -> Void) async throws {
        try await ConsoleFixture.with { fixture in
            var configuration = ConsoleConfiguration()
            configuration.pageSize = pageSize
            let server = ConsoleServer(store: fixture.store, configuration: configuration)
            let app = Application(router: server.router())
            try await app.test(.router) { client in try await body(fixture, client) }
        }
    }

    // MARK: Without a session

    @Test func pagesRedirectToLoginAndPostsAreRefusedWithoutASession() async throws {
        try await Self.withConsole { _, client in
            for path in ["/decisions", "/decision?id=r-allow-1", "/decision/image?id=r-allow-1", "/charts", "/reviews"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .seeOther, "\(path)")
                #expect(response.headers[.location] == "/login?next=" + HTMLQuery.encode(path), "\(path)")
            }
            let forged = try await client.execute(
                uri: "/decision/review", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "id=r-censor-1&verdict=overturn&csrf=x"))
            #expect(forged.status == .forbidden)
            // A made-up session cookie is no session.
            let madeUp = try await client.execute(uri: "/decisions", method: .get, headers: [.cookie: "chaperone_console=" + String(repeating: "A", count: 43)])
            #expect(madeUp.status == .seeOther)
            #expect(try await client.execute(uri: "/", method: .get).headers[.location] == "/decisions")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let css = try await client.execute(uri: "/static/console.css", method: .get)
            #expect(css.status == .ok && String(buffer: css.body).contains(".badge"))
        }
    }

    @Test func loginNeedsTheLoginFormsTokenAndTheRightPassword() async throws {
        try await Self.withConsole { fixture, client in
            let page = try await client.execute(uri: "/login?next=%2Fcharts", method: .get)
            #expect(page.status == .ok)
            let cookie = try #require(Browserless.cookie(named: "chaperone_console_login", in: page))
            let token = try #require(Browserless.csrf(in: String(buffer: page.body)))
            #expect(cookie == token)
            #expect(String(buffer: page.body).contains("value=\"/charts\""))

            func post(_ form: String, cookie: String?) async throws -> TestResponse {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let cookie { headers[.cookie] = "chaperone_console_login=\(cookie)" }
                return try await client.execute(uri: "/login", method: .post, headers: headers, body: ByteBuffer(string: form))
            }
            let user = ConsoleFixture.reviewer
            // No login cookie, or a token that is not the cookie's: refused before any password check.
            #expect(try await post("csrf=\(token)&name=\(user.name)&password=\(user.password)", cookie: nil).status == .forbidden)
            #expect(try await post("csrf=wrong&name=\(user.name)&password=\(user.password)", cookie: cookie).status == .forbidden)
            // Wrong password, unknown user.
            let wrong = try await post("csrf=\(token)&name=\(user.name)&password=nope", cookie: cookie)
            #expect(wrong.status == .unauthorized)
            #expect(String(buffer: wrong.body).contains("Wrong user name or password"))
            #expect(Browserless.cookie(named: "chaperone_console", in: wrong) == nil)
            #expect(try await post("csrf=\(token)&name=nobody&password=\(user.password)", cookie: cookie).status == .unauthorized)
            // Right: a session cookie (HttpOnly, SameSite=Strict) and a redirect to where the user was going.
            let right = try await post("csrf=\(token)&next=%2Fcharts&name=\(user.name)&password=\(user.password)", cookie: cookie)
            #expect(right.status == .seeOther)
            #expect(right.headers[.location] == "/charts")
            let setCookie = right.headers[values: .setCookie].first { $0.hasPrefix("chaperone_console=") } ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
            // An open redirect is not possible through `next`.
            let offsite = try await post("csrf=\(token)&next=%2F%2Fevil.example&name=\(user.name)&password=\(user.password)", cookie: cookie)
            #expect(offsite.headers[.location] == "/decisions")
            // Only the hash of the session token is stored.
            let session = try #require(Browserless.cookie(named: "chaperone_console", in: right))
            let stored = try await fixture.admin.query("SELECT token_sha256 FROM console_sessions").map { try $0.decode("token_sha256", as: String.self) }
            #expect(stored.contains(SHA256.hex(Array(session.utf8))))
            #expect(!stored.contains(session))
        }
    }

    @Test func logoutEndsTheSession() async throws {
        try await Self.withConsole { _, client in
            let user = try await Browserless.login(client, ConsoleFixture.analyst)
            #expect(try await user.get("/decisions").status == .ok)
            // Without the CSRF token the logout is refused and the session stays.
            #expect(try await user.post("/logout", "csrf=wrong").status == .forbidden)
            #expect(try await user.get("/decisions").status == .ok)
            let out = try await user.post("/logout", "csrf=\(user.csrf)")
            #expect(out.status == .seeOther && out.headers[.location] == "/login")
            #expect(try await user.get("/decisions").status == .seeOther)
        }
    }

    // MARK: Analyst

    @Test func analystReadsDecisionsButNotBlockedImagesNorVerdicts() async throws {
        try await Self.withConsole { fixture, client in
            let user = try await Browserless.login(client, ConsoleFixture.analyst)
            let list = String(buffer: try await user.get("/decisions").body)
            // Newest first.
            let order = ["r-censor-ref", "r-rejected-1", "r-block-1", "r-censor-1", "r-allow-1"].map { list.range(of: "data-request=\"\($0)\"")?.lowerBound }
            #expect(order.allSatisfy { $0 != nil })
            #expect(zip(order, order.dropFirst()).allSatisfy { $0! < $1! }, "not newest first")
            #expect(list.contains("<div class=\"thumb placeholder\">blocked</div>"))
            #expect(list.contains("class=\"thumb blurred\""))

            // The allowed image, byte for byte; the censored one from the image store.
            let allowed = try await user.get("/decision/image?id=r-allow-1")
            #expect(allowed.status == .ok && allowed.headers[.contentType] == "image/png")
            #expect(Array(buffer: allowed.body) == ConsoleFixture.allowedPNG)
            #expect(Array(buffer: try await user.get("/decision/image?id=r-censor-ref").body) == ConsoleFixture.censoredPNG)
            #expect(Array(buffer: try await user.get("/decision/image?id=r-censor-1").body) == ConsoleFixture.censoredPNG)
            // Blocked: refused to analysts, page says so.
            #expect(try await user.get("/decision/image?id=r-block-1").status == .forbidden)
            #expect(try await user.get("/decision/image?id=r-censor-1&original=1").status == .forbidden)
            #expect(!String(buffer: try await user.get("/decision?id=r-censor-1").body).contains("original-image"))
            let blocked = String(buffer: try await user.get("/decision?id=r-block-1").body)
            #expect(blocked.contains("id=\"image-withheld\""))
            #expect(!blocked.contains("/decision/image?id=r-block-1"))
            #expect(!blocked.contains("id=\"review-form\""))
            #expect(blocked.contains("id=\"review-readonly\""))

            // Verdicts: refused with 403 even with the right CSRF token, and nothing is stored.
            let attempt = try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-censor-1&verdict=overturn&note=x")
            #expect(attempt.status == .forbidden)
            #expect(try await fixture.admin.query("SELECT count(*) AS n FROM reviews").single("n").decode("n", as: Int.self) == 0)
            #expect(try await user.get("/charts").status == .ok)
            #expect(try await user.get("/reviews").status == .ok)
            #expect(try await user.get("/decision?id=no-such-request").status == .notFound)
            #expect(try await user.get("/decision/image?id=no-such-request").status == .notFound)
        }
    }

    @Test func decisionPageShowsScoresThresholdsReasonsMitigationsTriesHashesAndSource() async throws {
        try await Self.withConsole { _, client in
            let user = try await Browserless.login(client, ConsoleFixture.reviewer)
            let page = String(buffer: try await user.get("/decision?id=r-block-1").body)
            let scores = try #require(Browserless.table("scores", in: page))
            // Every score, and the threshold of the reason for the same scorer and label.
            #expect(scores.count == 4)
            #expect(scores.contains(["prompt_harm", "sexual", "prompt", "0.930", "0.900"]))
            #expect(scores.contains(["nudenet", "FEMALE_BREAST_EXPOSED", "image", "0.950", "0.900"]))
            #expect(scores.contains(["harm_amplification", "sexual", "image", "0.020", "below"]))
            let reasons = try #require(Browserless.table("reasons", in: page))
            #expect(reasons.first == ["prompt_harm", "sexual", "0.930", "0.900", "trigger", "–", ""])
            let mitigations = try #require(Browserless.table("mitigations", in: page))
            #expect(mitigations.contains(["safety_guidance", #"{"concept":"nudity","guidance_scale":2000,"preset":"strong"}"#]))
            let tries = try #require(Browserless.table("tries", in: page))
            #expect(tries.count == 2)
            #expect(tries[0].prefix(7) == ["1", "request", "block", "812.500", "8 / 20", #"{"at_step":8,"steps_saved":12}"#, "no"])
            #expect(page.contains("chaperone.requests / partition 3 @ offset 12"))
            #expect(page.contains(String(repeating: "1", count: 64)) && page.contains(String(repeating: "2", count: 64)))
            #expect(page.contains(SHA256.hex(ConsoleFixture.blockedPNG)))
            // The reviewer sees the blocked image, blurred until clicked.
            #expect(page.contains("class=\"blurred\""))
            #expect(Array(buffer: try await user.get("/decision/image?id=r-block-1").body) == ConsoleFixture.blockedPNG)
            // A censored decision: the published (censored) image, and the withheld original.
            let censored = String(buffer: try await user.get("/decision?id=r-censor-1").body)
            #expect(censored.contains("id=\"original-image\"") && censored.contains("/decision/image?id=r-censor-1&amp;original=1"))
            #expect(Array(buffer: try await user.get("/decision/image?id=r-censor-1").body) == ConsoleFixture.censoredPNG)
            #expect(Array(buffer: try await user.get("/decision/image?id=r-censor-1&original=1").body) == ConsoleFixture.allowedPNG)
            #expect(try await user.get("/decision/image?id=r-allow-1&original=1").status == .notFound, "an allowed image withholds nothing")

            // A rejected message: its raw request, escaped.
            let rejected = String(buffer: try await user.get("/decision?id=r-rejected-1").body)
            #expect(rejected.contains("Raw request (\(#"{"request_id": "r-rejected-1", "steps": 5000, "prompt": "<script>alert(1)</script>"}"#.utf8.count) bytes)"))
            #expect(rejected.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!rejected.contains("<script>"))
            #expect(!rejected.contains("id=\"review-form\""), "rejected decisions are not reviewed")
        }
    }

    @Test func filtersAndPaging() async throws {
        try await Self.withConsole(pageSize: 2) { _, client in
            let user = try await Browserless.login(client, ConsoleFixture.analyst)
            func ids(_ query: String) async throws -> [String] {
                let response = try await user.get("/decisions?" + query)
                #expect(response.status == .ok, "\(query)")
                return Browserless.requestIDs(in: String(buffer: response.body))
            }
            #expect(try await ids("") == ["r-censor-ref", "r-rejected-1"])
            #expect(try await ids("page=1") == ["r-block-1", "r-censor-1"])
            #expect(try await ids("page=2") == ["r-allow-1"])
            let second = String(buffer: try await user.get("/decisions?tenant=acme&page=1").body)
            #expect(second.contains("href=\"/decisions?tenant=acme&amp;page=0\""))
            #expect(try await ids("tenant=globex") == ["r-censor-ref", "r-block-1"])
            #expect(try await ids("decision=censor") == ["r-censor-ref", "r-censor-1"])
            #expect(try await ids("category=sexual") == ["r-block-1"])
            #expect(try await ids("category=FEMALE_BREAST_EXPOSED&tenant=acme") == ["r-censor-1"])
            #expect(try await ids("request_id=r-allow") == ["r-allow-1"])
            #expect(try await ids("attribute=group%3Dwomen") == ["r-allow-1"])
            #expect(try await ids("attribute=group") == ["r-censor-1", "r-allow-1"])
            #expect(try await ids("from=2026-11-28T00%3A04&to=2026-11-28T00%3A11") == ["r-block-1", "r-censor-1"])
            #expect(try await ids("from=2026-11-28T00%3A16") == ["r-censor-ref"])
            #expect(try await ids("tenant=nobody") == [])
            // Bad input gets a clear 400.
            let bad = try await user.get("/decisions?decision=maybe")
            #expect(bad.status == .badRequest)
            #expect(String(buffer: bad.body).contains("decision must be allow, censor, block or rejected"))
            #expect(try await user.get("/decisions?from=yesterday").status == .badRequest)
            #expect(try await user.get("/decisions?page=-1").status == .badRequest)
        }
    }

    // MARK: Reviewer

    @Test func reviewerRecordsVerdictsThatNeverChangeTheDecisionAndFeedTheOverturnRate() async throws {
        try await Self.withConsole { fixture, client in
            let repository = AuditRepository(connection: fixture.admin)
            let before = try await repository.decision(requestID: "r-censor-1")
            let user = try await Browserless.login(client, ConsoleFixture.reviewer)
            let page = String(buffer: try await user.get("/decision?id=r-censor-1").body)
            #expect(page.contains("id=\"review-form\""))

            // Without or with a wrong CSRF token: 403, nothing stored.
            #expect(try await user.post("/decision/review", "id=r-censor-1&verdict=overturn").status == .forbidden)
            #expect(try await user.post("/decision/review", "csrf=\(String(repeating: "x", count: 43))&id=r-censor-1&verdict=overturn").status == .forbidden)
            // An allowed decision is not reviewable; a verdict must be uphold or overturn.
            #expect(try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-allow-1&verdict=overturn").status == .badRequest)
            #expect(try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-censor-1&verdict=maybe").status == .badRequest)
            #expect(try await fixture.admin.query("SELECT count(*) AS n FROM reviews").single("n").decode("n", as: Int.self) == 0)

            let recorded = try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-censor-1&verdict=overturn&note=a+swimsuit%2C+not+nudity")
            #expect(recorded.status == .seeOther)
            #expect(recorded.headers[.location] == "/decision?id=r-censor-1&recorded=overturn")
            #expect(try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-block-1&verdict=uphold").status == .seeOther)

            let rows = try await fixture.admin.query("SELECT request_id, verdict, note, reviewer, recorded_by FROM reviews ORDER BY id")
            #expect(rows.rows.count == 2)
            #expect(try rows.rows[0].decode("request_id", as: String.self) == "r-censor-1")
            #expect(try rows.rows[0].decode("verdict", as: String.self) == "overturn")
            #expect(try rows.rows[0].decode("note", as: String.self) == "a swimsuit, not nudity")
            #expect(try rows.rows[0].decode("reviewer", as: String.self) == ConsoleFixture.reviewer.name)
            #expect(try rows.rows[0].decode("recorded_by", as: String.self) == fixture.loginRole)
            // The decision row is as it was.
            #expect(try await repository.decision(requestID: "r-censor-1") == before)

            let after = String(buffer: try await user.get("/decision?id=r-censor-1&recorded=overturn").body)
            #expect(after.contains("Your verdict (overturn) is recorded."))
            #expect(after.contains("a swimsuit, not nudity"))

            // Overturn rates: nudenet's category was reviewed twice (overturned once), prompt_harm's once (upheld).
            let reviews = String(buffer: try await user.get("/reviews").body)
            let rates = try #require(Browserless.table("overturn-rates", in: reviews))
            #expect(rates.contains(["nudenet", "FEMALE_BREAST_EXPOSED", "2", "1", "50.0%"]))
            #expect(rates.contains(["prompt_harm", "sexual", "1", "0", "0.0%"]))
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"chaperone_console_overturn_rate{scorer="nudenet",category="FEMALE_BREAST_EXPOSED"} 0.5"#), "\(metrics)")
            #expect(metrics.contains(#"chaperone_console_overturn_rate{scorer="prompt_harm",category="sexual"} 0.0"#), "\(metrics)")
            #expect(metrics.contains(#"chaperone_console_reviewed_decisions{scorer="nudenet",category="FEMALE_BREAST_EXPOSED"} 2.0"#), "\(metrics)")

            // A later verdict supersedes the earlier one in the rate; both stay in the table.
            #expect(try await user.post("/decision/review", "csrf=\(user.csrf)&id=r-censor-1&verdict=uphold").status == .seeOther)
            let later = try #require(Browserless.table("overturn-rates", in: String(buffer: try await user.get("/reviews").body)))
            #expect(later.contains(["nudenet", "FEMALE_BREAST_EXPOSED", "2", "0", "0.0%"]))
            #expect(try await fixture.admin.query("SELECT count(*) AS n FROM reviews").single("n").decode("n", as: Int.self) == 3)
            let list = String(buffer: try await user.get("/decisions?request_id=r-censor-1").body)
            #expect(list.contains("<span class=\"badge uphold\">uphold</span>"))
        }
    }

    @Test func chartsShowEveryView() async throws {
        try await Self.withConsole { fixture, client in
            let user = try await Browserless.login(client, ConsoleFixture.analyst)
            let page = String(buffer: try await user.get("/charts").body)
            for id in ["chart-over-time", "chart-over-moderation", "chart-amplification", "chart-escalation", "chart-overturn"] {
                #expect(page.contains("id=\"\(id)\""), "\(id)")
            }
            // Decisions over time: a line per tenant with the bucket counts as titles.
            #expect(page.contains("<svg id=\"chart-over-time\""))
            #expect(page.contains("acme 2026-11-28 00:00Z: 1"))
            #expect(page.contains("globex 2026-11-28 00:10Z: 1"))
            // Amplification by group: the attributes of the generated requests.
            // Escalation: globex's one request, blocked after two tries.
            #expect(page.contains("globex blocked: 1"))
            // Over-moderation: r-censor-1 ("a person at the beach", prompt harm 0.93 ≥ 0.5) is not benign;
            // the chef (r-allow-1) is benign and allowed, the doctor (r-censor-ref) benign and censored.
            _ = fixture
            #expect(page.contains("acme · SafeGen on: 0.0%"))
            #expect(page.contains("globex · SafeGen on: 100.0%"))
            #expect(page.contains("group=women · sexual: 100.0%"))
        }
    }
}

extension ConsoleHTTPTests {
    /// The over-time chart covers the chosen range, `[from, to)`; by default the 30 days before
    /// the newest decision. An empty or unreadable range is refused with 400.
    @Test func theOverTimeChartCoversTheChosenRange() async throws {
        try await Self.withConsole { _, client in
            let user = try await Browserless.login(client, ConsoleFixture.analyst)
            let all = String(buffer: try await user.get("/charts").body)
            #expect(all.contains("Over the 30 days before the newest decision: 5 decisions, minute buckets from 2026-11-28 00:00:00Z to 2026-11-28 00:20:00Z."))
            #expect(all.contains("acme 2026-11-28 00:00Z: 1"))

            let window = String(buffer: try await user.get("/charts?from=2026-11-28T00%3A06&to=2026-11-28T00%3A16").body)
            #expect(window.contains("Over the chosen range: 2 decisions, minute buckets from 2026-11-28 00:10:00Z to 2026-11-28 00:15:00Z."))
            #expect(window.contains("globex 2026-11-28 00:10Z: 1") && window.contains("acme 2026-11-28 00:15Z: 1"))
            #expect(!window.contains("2026-11-28 00:00Z") && !window.contains("2026-11-28 00:05Z") && !window.contains("2026-11-28 00:20Z"))
            // The form keeps what was asked.
            #expect(window.contains(#"name="from" id="c-from" value="2026-11-28T00:06""#))

            // `to` alone: the 30 days before the newest decision before it.
            let before = String(buffer: try await user.get("/charts?to=2026-11-28T00%3A10").body)
            #expect(before.contains("2 decisions") && before.contains("acme 2026-11-28 00:05Z: 1") && !before.contains("00:10Z"))

            let future = String(buffer: try await user.get("/charts?from=2030-01-01").body)
            #expect(future.contains("no decision in this range"))
            #expect(try await user.get("/charts?from=2026-11-28T00%3A10&to=2026-11-28T00%3A10").status == .badRequest)
            #expect(try await user.get("/charts?from=2026-11-29&to=2026-11-28").status == .badRequest)
            #expect(try await user.get("/charts?to=soon").status == .badRequest)
        }
    }
}

/// Percent-encoding as the console writes `next`.
enum HTMLQuery {
    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// A logged-in user of the router test client, and small readers of the returned HTML.
struct Browserless {
    let client: any TestClientProtocol
    let cookie: String
    let csrf: String

    static func login(_ client: any TestClientProtocol, _ user: (name: String, password: String)) async throws -> Browserless {
        let page = try await client.execute(uri: "/login", method: .get)
        let loginCookie = try #require(cookie(named: "chaperone_console_login", in: page))
        let token = try #require(csrf(in: String(buffer: page.body)))
        let response = try await client.execute(
            uri: "/login", method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "chaperone_console_login=\(loginCookie)"],
            body: ByteBuffer(string: "csrf=\(token)&name=\(user.name)&password=\(user.password)"))
        #expect(response.status == .seeOther)
        let session = try #require(cookie(named: "chaperone_console", in: response))
        let decisions = try await client.execute(uri: "/decisions", method: .get, headers: [.cookie: "chaperone_console=\(session)"])
        return Browserless(client: client, cookie: session, csrf: try #require(csrf(in: String(buffer: decisions.body))))
    }

    func get(_ uri: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: [.cookie: "chaperone_console=\(cookie)"])
    }

    func post(_ uri: String, _ form: String) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post,
            headers: [.cookie: "chaperone_console=\(cookie)", .contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form))
    }

    static func cookie(named name: String, in response: TestResponse) -> String? {
        for header in response.headers[values: .setCookie] where header.hasPrefix(name + "=") {
            let value = header.dropFirst(name.count + 1).prefix { $0 != ";" }
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }

    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: "name=\"csrf\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    static func requestIDs(in html: String) -> [String] {
        html.components(separatedBy: "data-request=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    /// The body rows of the table with `id`, each cell's text (tags stripped, entities of `&amp;`-kind kept decoded).
    static func table(_ id: String, in html: String) -> [[String]]? {
        guard let start = html.range(of: "<table id=\"\(id)\""), let end = html[start.upperBound...].range(of: "</table>") else { return nil }
        let table = html[start.upperBound..<end.lowerBound]
        guard let body = table.range(of: "<tbody>") else { return [] }
        return table[body.upperBound...].components(separatedBy: "</tr>").compactMap { row -> [String]? in
            let cells = row.components(separatedBy: "<td").dropFirst().map { cell -> String in
                var text = ""
                var inTag = true
                for c in cell {
                    if c == "<" { inTag = true } else if c == ">" { inTag = false } else if !inTag { text.append(c) }
                }
                return text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
                    .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return cells.isEmpty ? nil : cells
        }
    }
}
