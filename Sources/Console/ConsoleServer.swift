import AuditStore
import Contracts
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Prometheus

/// How the console is served.
public struct ConsoleConfiguration: Sendable {
    /// Address to bind: loopback by default, so the console is reachable from this machine only
    /// (put it behind a reverse proxy, or bind another address with TLS on).
    public var host: String = "127.0.0.1"
    public var port: Int = 8470
    /// PEM certificate chain and private key: when both are set the console speaks HTTPS and its
    /// cookies are `Secure`.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// The folder of a directory image store (`images.store` = a path): `file:` image references
    /// are read only from there.
    public var imageDirectory: String?
    /// Decisions per page of the list.
    public var pageSize: Int = 25

    public init() {}

    /// Whether the console speaks HTTPS.
    public var usesTLS: Bool { tlsCertificateFile != nil && tlsKeyFile != nil }
}

/// The audit console (`chaperone audit serve`): pages for analysts and reviewers over the audit
/// database, served by Hummingbird.
///
/// Routes: `GET /login`, `POST /login`, `POST /logout`, `GET /decisions` (filters and paging),
/// `GET /decision?id=` (one decision), `GET /decision/image?id=`, `POST /decision/review`
/// (reviewers), `GET /charts`, `GET /reviews`, `GET /metrics` (overturn rates, Prometheus text),
/// `GET /health`, `GET /static/console.css`. Pages need a session: without one a `GET` is
/// redirected to the login page and anything else is refused with 403, as is a form without the
/// session's CSRF token and whatever the user's role may not do.
public struct ConsoleServer: Sendable {
    public static let sessionCookie = "chaperone_console"
    static let loginCookie = "chaperone_console_login"

    public let store: ConsoleStore
    public let configuration: ConsoleConfiguration
    let logger: Logger

    public init(store: ConsoleStore, configuration: ConsoleConfiguration, logger: Logger = Logger(label: "chaperone.console")) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// The router with every route, for serving or for tests.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in Self.redirect("/decisions") }
        router.get("static/console.css") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                     body: .init(byteBuffer: ByteBuffer(string: HTML.stylesheet)))
        }
        router.get("health") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("metrics") { _, _ in try await metrics() }
        router.get("login") { request, _ in
            let token = Token.make()
            var response = Self.html(Pages.login(loginCSRF: token, next: Self.safeNext(Form.query(request)["next"]), failed: false))
            response.setCookie(cookie(Self.loginCookie, token, maxAge: 3600))
            return response
        }
        router.post("login") { request, context in try await login(request, context) }
        router.post("logout") { request, context in
            var request = request
            let form = try await Self.form(&request)
            guard let token = request.cookies[Self.sessionCookie]?.value, let session = try await store.session(token: token) else {
                return Self.redirect("/login")
            }
            guard Self.validCSRF(form["csrf"], session.csrfToken) else { return Self.refused(session, "The form's CSRF token is missing or wrong.") }
            try await store.logout(token: token)
            var response = Self.redirect("/login")
            response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
            return response
        }
        router.get("decisions") { request, _ in
            try await withSession(request) { session in try await decisions(request, session) }
        }
        router.get("decision") { request, _ in
            try await withSession(request) { session in
                let recorded = Form.query(request)["recorded"].flatMap(Verdict.init(rawValue:))
                return try await decision(request, session, message: recorded.map { "Your verdict (\($0.rawValue)) is recorded." })
            }
        }
        router.get("decision/image") { request, _ in
            try await withSession(request) { session in try await image(request, session) }
        }
        router.post("decision/review") { request, _ in
            var request = request
            let form = try await Self.form(&request)
            return try await withSession(request, form: form) { session in try await review(form, session) }
        }
        router.get("charts") { request, _ in
            try await withSession(request) { session in
                let raw = Form.query(request)
                let range = try Self.chartRange(raw)
                return Self.html(Pages.charts(session: session, data: try await store.chartData(as: session.role, range: range), rawRange: raw))
            }
        }
        router.get("reviews") { request, _ in
            try await withSession(request) { session in
                async let rates = store.overturnRates(as: session.role)
                async let recent = store.reviews(requestID: nil, limit: 100, as: session.role)
                return Self.html(Pages.reviews(session: session, rates: try await rates, recent: try await recent))
            }
        }
        return router
    }

    /// The application bound to the configured address (HTTPS when TLS files are set).
    /// `onServerRunning` gets the bound port (useful with port 0).
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let server: HTTPServerBuilder
        if let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile {
            let chain: [NIOSSLCertificate]
            let privateKey: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificate)
                privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            } catch {
                throw ConsoleError.configuration("cannot read the TLS certificate \(certificate) or key \(key): \(error)")
            }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else if configuration.tlsCertificateFile != nil || configuration.tlsKeyFile != nil {
            throw ConsoleError.configuration("TLS needs both a certificate chain file and a private key file")
        } else {
            server = .http1()
        }
        return Application(
            router: router(), server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "chaperone-console"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until the process is asked to stop (SIGTERM, SIGINT) or the task is cancelled.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onServerRunning: onServerRunning).runService()
    }

    // MARK: Sessions and access

    /// Runs `body` for a logged-in user; without a session, a GET is redirected to the login page
    /// and anything else gets 403. With `form`, the form's CSRF token must be the session's.
    func withSession(_ request: Request, form: [String: String]? = nil, _ body: (ConsoleSession) async throws -> Response) async throws -> Response {
        guard let token = request.cookies[Self.sessionCookie]?.value, let session = try await store.session(token: token) else {
            if request.method == .get {
                let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                return Self.redirect("/login?next=" + HTML.query(next))
            }
            return Self.html(Pages.error(session: nil, status: 403, message: "Log in first."), status: .forbidden)
        }
        if let form, !Self.validCSRF(form["csrf"], session.csrfToken) {
            return Self.refused(session, "The form's CSRF token is missing or wrong.")
        }
        do {
            return try await body(session)
        } catch let error as ConsoleError {
            return Self.html(Pages.error(session: session, status: 400, message: error.description), status: .badRequest)
        }
    }

    func login(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        var request = request
        let form = try await Self.form(&request)
        let next = Self.safeNext(form["next"])
        guard let expected = request.cookies[Self.loginCookie]?.value, Self.validCSRF(form["csrf"], expected) else {
            return Self.html(Pages.error(session: nil, status: 403, message: "The login form expired or did not come from this console; open the login page again."), status: .forbidden)
        }
        guard let (token, session) = try await store.login(name: form["name"] ?? "", password: form["password"] ?? "") else {
            logger.notice("console login refused", metadata: ["user": .string(form["name"] ?? "")])
            let fresh = Token.make()
            var response = Self.html(Pages.login(loginCSRF: fresh, next: next, failed: true), status: .unauthorized)
            response.setCookie(cookie(Self.loginCookie, fresh, maxAge: 3600))
            return response
        }
        logger.info("console login", metadata: ["user": .string(session.user), "role": .string(session.role.rawValue)])
        var response = Self.redirect(next)
        response.setCookie(cookie(Self.sessionCookie, token, maxAge: Int(store.sessionLifetime.components.seconds)))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        return response
    }

    // MARK: Pages

    func decisions(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let raw = Form.query(request)
        let filter = try Self.filter(raw)
        let page = try raw["page"].map { text -> Int in
            guard let p = Int(text), (0...100_000).contains(p) else { throw ConsoleError.invalidInput("page must be a whole number from 0") }
            return p
        } ?? 0
        async let choices = store.filterChoices(as: session.role)
        let (rows, hasMore) = try await store.decisions(filter, page: page, pageSize: configuration.pageSize, as: session.role)
        let (tenants, categories) = try await choices
        return Self.html(Pages.decisions(
            session: session, filter: filter, rawFilter: raw, rows: rows, page: page, hasMore: hasMore, tenants: tenants, categories: categories))
    }

    func decision(_ request: Request, _ session: ConsoleSession, message: String?) async throws -> Response {
        guard let id = Form.query(request)["id"], !id.isEmpty else { throw ConsoleError.invalidInput("no decision id given") }
        return try await decisionPage(id: id, session: session, message: message)
    }

    func decisionPage(id: String, session: ConsoleSession, message: String?) async throws -> Response {
        guard !id.utf8.contains(0), let detail = try await store.decision(requestID: id, as: session.role) else {
            return Self.html(Pages.error(session: session, status: 404, message: "No decision has the request id \(id)."), status: .notFound)
        }
        async let reviews = store.reviews(requestID: id, as: session.role)
        let available = try await imageBytes(detail, session) != nil
        let originalAvailable = detail.decision == .censor && session.role == .reviewer ? try await withheldImage(detail) != nil : false
        return Self.html(Pages.decision(session: session, detail: detail, imageAvailable: available, originalAvailable: originalAvailable,
                                        reviews: try await reviews, message: message))
    }

    func image(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        guard let id = Form.query(request)["id"], !id.isEmpty, !id.utf8.contains(0),
              let detail = try await store.decision(requestID: id, as: session.role)
        else { return Response(status: .notFound) }
        let original = Form.query(request)["original"] == "1"
        if (detail.decision == .block || original) && session.role != .reviewer {
            return Response(status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: "withheld images are shown to reviewers only\n")))
        }
        let bytes: [UInt8]?
        if original {
            guard detail.decision == .censor else { return Response(status: .notFound) }
            bytes = try await withheldImage(detail)
        } else {
            bytes = try await imageBytes(detail, session)
        }
        guard let bytes else { return Response(status: .notFound) }
        return Response(
            status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, no-store", .init("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The decision's image as a person may see it: the published image (inline, or from the
    /// image store), or for a blocked decision the withheld generated image (reviewers only).
    /// Bytes whose SHA-256 differs from the recorded one are never served.
    func imageBytes(_ d: DecisionDetail, _ session: ConsoleSession) async throws -> [UInt8]? {
        if d.decision == .block {
            guard session.role == .reviewer else { return nil }
            return try await withheldImage(d)
        }
        guard let sha = d.publishedImageSHA256 else { return nil }
        if let base64 = d.publishedImageBase64 {
            guard let data = Data(base64Encoded: base64), SHA256.hex(data) == sha else { return nil }
            return Array(data)
        }
        guard let ref = d.publishedImageRef else { return nil }
        if ref.hasPrefix("postgresql:images/") {
            return try await stored(sha: String(ref.dropFirst("postgresql:images/".count)), session: session).flatMap { SHA256.hex($0) == sha ? $0 : nil }
        }
        if ref.hasPrefix("file:"), let folder = configuration.imageDirectory {
            let path = URL(fileURLWithPath: String(ref.dropFirst("file:".count))).standardizedFileURL.resolvingSymlinksInPath()
            let root = URL(fileURLWithPath: folder, isDirectory: true).standardizedFileURL.resolvingSymlinksInPath()
            guard path.path.hasPrefix(root.path + "/"), let data = FileManager.default.contents(atPath: path.path), SHA256.hex(data) == sha else { return nil }
            return Array(data)
        }
        return nil
    }

    /// The generated image a blocked or censored decision withheld (`withheld_images`, which only
    /// the reviewer role reads), nil when the worker kept none.
    private func withheldImage(_ d: DecisionDetail) async throws -> [UInt8]? {
        guard let sha = d.generatedImageSHA256, sha.count == 64, sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        guard let bytes = try await store.withheldImage(sha256: sha), SHA256.hex(bytes) == sha else { return nil }
        return bytes
    }

    private func stored(sha: String, session: ConsoleSession) async throws -> [UInt8]? {
        guard sha.count == 64, sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else { return nil }
        if let bytes = try await store.storedImage(sha256: sha, as: session.role), SHA256.hex(bytes) == sha { return bytes }
        if let folder = configuration.imageDirectory,
           let data = FileManager.default.contents(atPath: URL(fileURLWithPath: folder).appendingPathComponent("\(sha).png").path),
           SHA256.hex(data) == sha {
            return Array(data)
        }
        return nil
    }

    func review(_ form: [String: String], _ session: ConsoleSession) async throws -> Response {
        guard session.role == .reviewer else { return Self.refused(session, "Only reviewers record verdicts.") }
        guard let id = form["id"], !id.isEmpty else { throw ConsoleError.invalidInput("no decision id given") }
        guard let verdict = form["verdict"].flatMap(Verdict.init(rawValue:)) else { throw ConsoleError.invalidInput("choose uphold or overturn") }
        guard let detail = try await store.decision(requestID: id, as: session.role) else {
            return Self.html(Pages.error(session: session, status: 404, message: "No decision has the request id \(id)."), status: .notFound)
        }
        guard detail.isReviewable else { throw ConsoleError.invalidInput("only censored or blocked decisions are reviewed; this one is \(detail.decision.rawValue)") }
        let note = (form["note"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try await store.recordReview(requestID: id, verdict: verdict, note: note, reviewer: session.user, as: session.role)
        logger.info("verdict recorded", metadata: ["user": .string(session.user), "request_id": .string(id), "verdict": .string(verdict.rawValue)])
        // Post/redirect/get: reloading the page does not record the verdict twice.
        return Self.redirect("/decision?id=" + HTML.query(id) + "&recorded=" + verdict.rawValue)
    }

    /// Overturn rates as Prometheus text, read fresh on every scrape.
    func metrics() async throws -> Response {
        let registry = PrometheusCollectorRegistry()
        let rates = try await store.overturnRates(as: .analyst)
        for rate in rates {
            let labels = [("scorer", rate.scorer), ("category", rate.category)]
            registry.makeGauge(name: "chaperone_console_overturn_rate", labels: labels,
                               help: "Share of reviewed censored or blocked decisions whose latest verdict is overturn").set(rate.rate)
            registry.makeGauge(name: "chaperone_console_reviewed_decisions", labels: labels,
                               help: "Censored or blocked decisions with a verdict").set(Double(rate.reviewed))
            registry.makeGauge(name: "chaperone_console_overturned_decisions", labels: labels,
                               help: "Censored or blocked decisions whose latest verdict is overturn").set(Double(rate.overturned))
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }

    // MARK: Helpers

    static func filter(_ raw: [String: String]) throws -> DecisionFilter {
        func value(_ key: String) -> String? {
            guard let v = raw[key]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        var filter = DecisionFilter(tenant: value("tenant"), category: value("category"), requestID: value("request_id"), attribute: value("attribute"))
        for (key, text) in [("tenant", filter.tenant), ("category", filter.category), ("request_id", filter.requestID), ("attribute", filter.attribute)] {
            if let text, text.utf8.contains(0) || text.utf8.count > 512 { throw ConsoleError.invalidInput("the \(key) filter is too long or holds NUL") }
        }
        if let decision = value("decision") {
            guard let d = DecisionRecord.Decision(rawValue: decision) else {
                throw ConsoleError.invalidInput("decision must be allow, censor, block or rejected, not '\(decision)'")
            }
            filter.decision = d
        }
        if let attribute = filter.attribute, attribute.hasPrefix("=") { throw ConsoleError.invalidInput("the attribute filter is key=value or key") }
        filter.from = try value("from").map { try time($0, field: "from") }
        filter.to = try value("to").map { try time($0, field: "to") }
        return filter
    }

    /// The charts' time range from `from` and `to`; refused when `from` is not before `to`.
    static func chartRange(_ raw: [String: String]) throws -> ChartRange {
        func value(_ key: String) -> String? {
            guard let v = raw[key]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        let range = ChartRange(from: try value("from").map { try time($0, field: "from") }, to: try value("to").map { try time($0, field: "to") })
        if let from = range.from, let to = range.to, from >= to {
            throw ConsoleError.invalidInput("the range is empty: from (\(HTML.time(from))) must be before to (\(HTML.time(to)))")
        }
        return range
    }

    /// `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local field) or a date, read as UTC.
    static func time(_ text: String, field: String) throws -> SQLTimestamp {
        var t = text.replacingOccurrences(of: " ", with: "T")
        if t.count == 10 { t += "T00:00:00" } else if t.count == 16 { t += ":00" }
        if !(t.hasSuffix("Z") || t.contains("+")) { t += "Z" }
        do {
            return try SQLTimestamp(sqlText: t, column: field)
        } catch {
            throw ConsoleError.invalidInput("'\(text)' in \(field) is not a date and time (YYYY-MM-DDTHH:MM, UTC)")
        }
    }

    /// A redirect target within the console only (no scheme, host or `//`).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains(where: { $0.isNewline }) else {
            return "/decisions"
        }
        return next
    }

    static func validCSRF(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        return constantTimeEqual(Array(given.utf8), Array(expected.utf8))
    }

    func cookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: configuration.usesTLS, httpOnly: true, sameSite: .strict)
    }

    static func form(_ request: inout Request) async throws -> [String: String] {
        let body = try await request.collectBody(upTo: 64 * 1024)
        return Form.parse(String(buffer: body))
    }

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-store",
    ]

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func refused(_ session: ConsoleSession, _ message: String) -> Response {
        html(Pages.error(session: session, status: 403, message: message), status: .forbidden)
    }
}

/// `application/x-www-form-urlencoded` text (a query string or a form body) as a dictionary;
/// the first of repeated keys wins.
enum Form {
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let key = decode(parts[0])
            if out[key] == nil { out[key] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return out
    }

    static func query(_ request: Request) -> [String: String] {
        parse(request.uri.query ?? "")
    }
}
