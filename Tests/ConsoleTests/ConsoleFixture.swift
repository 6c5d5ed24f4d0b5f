import AuditStore
import Console
import Contracts
import Foundation
import Testing
import TestSupport

/// A fresh audit database per test (on the PostgreSQL of `CHAPERONE_TEST_POSTGRES_URL`), with
/// all migrations, sample decisions of every kind, two console users, and a console store that
/// connects as a login role that is only a member of `chaperone_console`, as in production.
struct ConsoleFixture {
    let admin: Connection
    let store: ConsoleStore
    let databaseName: String
    let loginRole: String
    let superuserURL: String

    static let analyst = (name: "ana", password: "analyst-password-1")
    static let reviewer = (name: "rev", password: "reviewer-password-1")

    /// Runs `body` with a seeded fixture; drops the database and role afterwards.
    static func with<Value>(pageSize: Int = 25, _ body: (ConsoleFixture) async throws -> Value) async throws -> Value {
        guard let url = ProcessInfo.processInfo.environment["CHAPERONE_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw FixtureError("CHAPERONE_TEST_POSTGRES_URL is not set: run `ops/lib/postgres.sh start`, then `eval \"$(ops/lib/postgres.sh env)\"`")
        }
        let suffix = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        let name = "chaperone_console_" + suffix
        let role = "console_login_" + suffix
        let server = try await Connection.connect(url: url)
        try await server.query("CREATE DATABASE \(identifier: name)")
        func cleanUp() async {
            _ = try? await server.query("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
            _ = try? await server.query("DROP ROLE IF EXISTS \(identifier: role)")
            await server.close()
        }
        do {
            let admin = try await Connection.connect(url: url, overrides: ["dbname": name])
            try await Migrator(connection: admin, directory: Self.root.appendingPathComponent("schemas/migrations", isDirectory: true)).migrate()
            try await admin.query("CREATE ROLE \(identifier: role) LOGIN IN ROLE chaperone_console")
            try await Self.seed(admin)
            try await ConsoleUsers.add(name: analyst.name, role: .analyst, password: analyst.password, replace: false, on: admin, iterations: 1000)
            try await ConsoleUsers.add(name: reviewer.name, role: .reviewer, password: reviewer.password, replace: false, on: admin, iterations: 1000)
            let store = try await ConsoleStore.connect(url: url, overrides: ["dbname": name, "user": role], count: 2)
            let fixture = ConsoleFixture(admin: admin, store: store, databaseName: name, loginRole: role, superuserURL: url)
            let value = try await body(fixture)
            await store.close()
            await admin.close()
            await cleanUp()
            return value
        } catch {
            await cleanUp()
            throw error
        }
    }

    static let root = TestPaths.repositoryRoot

    // MARK: Sample decisions

    /// Images: a green scene (allowed, and the withheld original of the censored ones), its censored
    /// copy (grey blocks, in the image store), and a red one (blocked, withheld).
    static let allowedPNG = SamplePNG.scene(background: (90, 170, 110), figure: (240, 200, 80))
    static let censoredPNG = SamplePNG.scene(background: (90, 120, 170), figure: (128, 128, 128))
    static let blockedPNG = SamplePNG.scene(background: (190, 60, 60), figure: (250, 220, 200))

    static let base = SQLTimestamp(microsecondsSince1970: 1_795_824_000_000_000)  // 2026-11-28T00:00:00Z

    static func seed(_ admin: Connection) async throws {
        let repository = AuditRepository(connection: admin)
        func result(_ id: String, tenant: String, decision: String, image: [UInt8]?, ref: String? = nil, reasons: String) -> [UInt8] {
            var object: [String: Any] = [
                "request_id": id, "tenant": tenant, "decision": decision, "reasons": try! JSONSerialization.jsonObject(with: Data(reasons.utf8)),
                "scores": [], "generated_image_sha256": SHA256.hex(image ?? blockedPNG), "model_sha256": String(repeating: "1", count: 64),
                "mitigations": ["safegen": true], "worker_id": "worker-1", "decided_at": "2026-11-28T00:00:00Z",
                "timings": ["decode_ms": 1, "generate_ms": 2, "score_ms": 3],
            ]
            if let image {
                object["image_sha256"] = SHA256.hex(image)
                if let ref { object["image_ref"] = ref } else { object["image"] = Data(image).base64EncodedString() }
            }
            return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        }
        let nudityReason = #"[{"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.71, "threshold": 0.5, "action": "censor"}]"#
        let blockReason = #"[{"scorer": "prompt_harm", "label": "sexual", "score": 0.93, "threshold": 0.9}, {"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.95, "threshold": 0.9}]"#
        let scores = #"[{"scorer": "prompt_harm", "label": "sexual", "score": 0.93, "subject": "prompt"}, {"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.95, "subject": "image"}, {"scorer": "harm_amplification", "label": "sexual", "score": 0.02, "subject": "image"}, {"scorer": "harm_amplification", "label": "sexual.amplified", "score": 0, "subject": "image"}]"#
        let benignScores = #"[{"scorer": "prompt_harm", "label": "sexual", "score": 0.05, "subject": "prompt"}, {"scorer": "nudenet", "label": "FEMALE_BREAST_EXPOSED", "score": 0.71, "subject": "image"}, {"scorer": "harm_amplification", "label": "sexual", "score": 0.66, "subject": "image"}, {"scorer": "harm_amplification", "label": "sexual.amplified", "score": 1, "subject": "image"}]"#
        let tries = #"[{"try": 1, "step": "request", "decision": "block", "duration_ms": 812.5, "steps_total": 20, "steps_run": 8, "early_abort": {"at_step": 8, "steps_saved": 12}, "published": false, "mitigations": {"safegen": false}, "reasons": []}, {"try": 2, "step": "safegen", "decision": "block", "duration_ms": 1600, "steps_total": 20, "steps_run": 20, "published": false, "mitigations": {"safegen": true}, "reasons": []}]"#
        var records: [DecisionRecord] = []
        func record(
            _ id: String, tenant: String?, minutes: Int64, decision: DecisionRecord.Decision, prompt: String?, reasons: String = "[]",
            scores: String? = nil, image: [UInt8]?, published: [UInt8], attributes: String? = nil, tries: String? = nil, raw: [UInt8]? = nil,
            offset: Int64
        ) -> DecisionRecord {
            DecisionRecord(
                requestID: id, tenant: tenant, decidedAt: SQLTimestamp(microsecondsSince1970: base.microsecondsSince1970 + minutes * 60_000_000),
                decision: decision, reasonsJSON: reasons, prompt: prompt, negativePrompt: "", mitigationsJSON: #"{"safegen": true, "safety_guidance": {"preset": "strong", "concept": "nudity", "guidance_scale": 2000}}"#,
                scoresJSON: scores, imageSHA256: image.map { SHA256.hex($0) }, modelSHA256: String(repeating: "1", count: 64),
                overlaySHA256: String(repeating: "2", count: 64), workerID: "worker-1",
                source: .init(topic: "chaperone.requests", partition: 3, offset: offset),
                publishedTopic: decision == .rejected ? "chaperone.requests.dlq" : "chaperone.results", publishedPayload: published,
                rawRequest: raw, attributesJSON: attributes, triesJSON: tries)
        }
        records.append(record("r-allow-1", tenant: "acme", minutes: 0, decision: .allow, prompt: "a chef in a red shirt in the park",
                              scores: benignScores, image: allowedPNG, published: result("r-allow-1", tenant: "acme", decision: "allow", image: allowedPNG, reasons: "[]"),
                              attributes: #"{"group": "women", "campaign": "spring"}"#, offset: 10))
        records.append(record("r-censor-1", tenant: "acme", minutes: 5, decision: .censor, prompt: "a person at the beach", reasons: nudityReason,
                              scores: scores, image: allowedPNG, published: result("r-censor-1", tenant: "acme", decision: "censor", image: censoredPNG, reasons: nudityReason),
                              attributes: #"{"group": "men"}"#, offset: 11))
        records.append(record("r-block-1", tenant: "globex", minutes: 10, decision: .block, prompt: "an explicit nude scene", reasons: blockReason,
                              scores: scores, image: blockedPNG, published: result("r-block-1", tenant: "globex", decision: "block", image: nil, reasons: blockReason),
                              tries: tries, offset: 12))
        records.append(record("r-rejected-1", tenant: "acme", minutes: 15, decision: .rejected, prompt: nil,
                              reasons: #"[{"scorer": "validator", "label": "steps_out_of_range", "score": 1, "threshold": 1}]"#,
                              image: nil, published: Array(#"{"reason_code": "steps_out_of_range"}"#.utf8), raw: Array(#"{"request_id": "r-rejected-1", "steps": 5000, "prompt": "<script>alert(1)</script>"}"#.utf8),
                              offset: 13))
        // The censored image behind an image_ref into the image store.
        records.append(record("r-censor-ref", tenant: "globex", minutes: 20, decision: .censor, prompt: "a doctor at work", reasons: nudityReason,
                              scores: benignScores, image: allowedPNG,
                              published: result("r-censor-ref", tenant: "globex", decision: "censor", image: censoredPNG, ref: "postgresql:images/" + SHA256.hex(censoredPNG), reasons: nudityReason),
                              offset: 14))
        for r in records { _ = try await repository.insertDecision(r) }
        // The worker keeps what a decision withheld: the blocked image, the censored one's original.
        try await repository.keepWithheldImage(sha256: SHA256.hex(blockedPNG), bytes: blockedPNG)
        try await repository.keepWithheldImage(sha256: SHA256.hex(allowedPNG), bytes: allowedPNG)
        try await repository.storeImage(sha256: SHA256.hex(censoredPNG), bytes: censoredPNG)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Small deterministic PNGs: 8-bit RGB, stored deflate blocks, correct CRC-32 and Adler-32.
enum SamplePNG {
    /// A 64×64 scene: a background with a figure (a rectangle with a round head).
    static func scene(background: (UInt8, UInt8, UInt8), figure: (UInt8, UInt8, UInt8)) -> [UInt8] {
        let size = 64
        var rgb = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                let head = (x - 32) * (x - 32) + (y - 18) * (y - 18) < 64
                let body = x >= 24 && x < 40 && y >= 26 && y < 56
                let c = head || body ? figure : background
                let i = (y * size + x) * 3
                rgb[i] = c.0; rgb[i + 1] = c.1; rgb[i + 2] = c.2
            }
        }
        return encode(rgb: rgb, width: size, height: size)
    }

    static func encode(rgb: [UInt8], width: Int, height: Int) -> [UInt8] {
        var raw: [UInt8] = []
        for row in 0..<height {
            raw.append(0)
            raw.append(contentsOf: rgb[(row * width * 3)..<((row + 1) * width * 3)])
        }
        var zlib: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65535, raw.count - offset)
            zlib.append(offset + length == raw.count ? 1 : 0)
            zlib += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8((~length >> 8) & 0xff)]
            zlib.append(contentsOf: raw[offset..<(offset + length)])
            offset += length
        } while offset < raw.count
        zlib += bigEndian(adler32(raw))
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0])
        png += chunk("IDAT", zlib)
        png += chunk("IEND", [])
        return png
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(crc32(typed))
    }

    private static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return b << 16 | a
    }
}
