import Foundation

/// A W3C WebDriver client for chromedriver (JSON over HTTP with curl; no other dependency): enough to open
/// pages, find elements, type, click, read text and styles, and take screenshots.
struct WebDriver {
    let base: URL
    let session: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Opens a headless Chromium session on the chromedriver at `base`.
    static func start(chromedriver base: URL, chromium: String) async throws -> WebDriver {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chaperone-chromium-\(UUID().uuidString)").path
        let capabilities: [String: Any] = [
            "capabilities": ["alwaysMatch": [
                "browserName": "chrome",
                "goog:chromeOptions": [
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1360,1300",
                             "--user-data-dir=\(profile)", "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1"],
                ],
            ]],
        ]
        let value = try await call(base.appendingPathComponent("session"), method: "POST", body: capabilities)
        guard let object = value as? [String: Any], let id = object["sessionId"] as? String else {
            throw Failure(description: "chromedriver did not open a session: \(String(describing: value))")
        }
        return WebDriver(base: base, session: id)
    }

    func quit() async {
        _ = try? await Self.call(base.appendingPathComponent("session/\(session)"), method: "DELETE", body: nil)
    }

    func navigate(_ url: String) async throws { _ = try await command("url", body: ["url": url]) }

    func currentURL() async throws -> String { try await command("url", method: "GET") as? String ?? "" }

    func title() async throws -> String { try await command("title", method: "GET") as? String ?? "" }

    /// The element matching a CSS selector; throws when there is none.
    func element(_ css: String) async throws -> String {
        let value = try await command("element", body: ["using": "css selector", "value": css])
        guard let object = value as? [String: Any], let id = object.first(where: { $0.key.hasPrefix("element-") })?.value as? String else {
            throw Failure(description: "no element \(css)")
        }
        return id
    }

    func elements(_ css: String) async throws -> [String] {
        let value = try await command("elements", body: ["using": "css selector", "value": css])
        return (value as? [[String: Any]] ?? []).compactMap { $0.first(where: { $0.key.hasPrefix("element-") })?.value as? String }
    }

    func click(_ css: String) async throws { _ = try await command("element/\(try await element(css))/click", body: [:]) }

    func type(_ css: String, _ text: String) async throws {
        let id = try await element(css)
        _ = try await command("element/\(id)/clear", body: [:])
        _ = try await command("element/\(id)/value", body: ["text": text])
    }

    /// The rendered text of the element matching `css`.
    func text(_ css: String) async throws -> String {
        try await command("element/\(try await element(css))/text", method: "GET") as? String ?? ""
    }

    /// Runs `script` in the page and returns its result.
    func execute(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await command("execute/sync", body: ["script": script, "args": arguments])
    }

    /// The trimmed text of each cell of the first row matching `css`.
    func cells(_ css: String) async throws -> [String] {
        let value = try await execute(
            "const r = document.querySelector(arguments[0]); return r ? Array.from(r.cells).map(c => c.textContent.trim()) : null", [css])
        return value as? [String] ?? []
    }

    /// Waits (up to 10 s) until `script` returns true, e.g. until images have loaded; the
    /// caller then checks what the page shows.
    func waitUntil(_ script: String) async throws {
        for _ in 0..<100 {
            if try await execute(script) as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// A PNG of the viewport.
    func screenshot() async throws -> Data {
        guard let text = try await command("screenshot", method: "GET") as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        return data
    }

    private func command(_ path: String, method: String = "POST", body: [String: Any]? = nil) async throws -> Any? {
        try await Self.call(base.appendingPathComponent("session/\(session)/\(path)"), method: method, body: method == "GET" ? nil : (body ?? [:]))
    }

    /// One WebDriver request through curl (`--fail-with-body`; the HTTP client of swift-corelibs
    /// Foundation stalled against chromedriver here, curl does not).
    private static func call(_ url: URL, method: String, body: [String: Any]?) async throws -> Any? {
        var arguments = ["-sS", "--max-time", "60", "-X", method, "-w", "\n%{http_code}"]
        var input: Data?
        if let body {
            input = try JSONSerialization.data(withJSONObject: body)
            arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        }
        arguments.append(url.absoluteString)
        let output = try await curl(arguments, input: input)
        guard let newline = output.lastIndex(of: UInt8(ascii: "\n")), let status = Int(String(decoding: output[(newline + 1)...], as: UTF8.self)) else {
            throw Failure(description: "\(method) \(url.path): no answer")
        }
        let data = output[..<newline]
        if status >= 400 {
            throw Failure(description: "\(method) \(url.path): \(status) \(String(decoding: data, as: UTF8.self).prefix(400))")
        }
        let json = try JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed]) as? [String: Any]
        return json?["value"] ?? nil
    }

    /// Runs curl with `arguments`, feeding `input`, and returns what it printed. The output is read
    /// to its end on a thread of its own before the exit status is taken, so no byte can still be
    /// on its way from a pipe handler when the answer is parsed.
    static func curl(_ arguments: [String], input: Data? = nil) async throws -> Data {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, Error>) in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                process.arguments = arguments
                let stdout = Pipe()
                let stdin = Pipe()
                process.standardOutput = stdout
                process.standardInput = stdin
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                if let input { stdin.fileHandleForWriting.write(input) }
                try? stdin.fileHandleForWriting.close()
                let output = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                if process.terminationStatus == 0 {
                    continuation.resume(returning: output)
                } else {
                    continuation.resume(throwing: Failure(description: "curl \(arguments.last ?? "") exited with \(process.terminationStatus)"))
                }
            }
        }
    }
}
