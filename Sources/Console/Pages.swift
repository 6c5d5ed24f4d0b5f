import AuditStore
import Contracts
import Foundation

/// The console's pages as HTML text. Every value from the database is escaped.
enum Pages {
    static func login(loginCSRF: String, next: String, failed: Bool) -> String {
        HTML.page(title: "Log in", session: nil, """
            <form class="login" method="post" action="/login">
            <h1>Log in</h1>
            \(failed ? "<div class=\"error\" id=\"login-error\">Wrong user name or password.</div>" : "")
            \(HTML.csrfField(loginCSRF))<input type="hidden" name="next" value="\(HTML.escape(next))">
            <label for="name">User name</label><input id="name" name="name" autocomplete="username" required autofocus>
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
            <button class="primary" type="submit">Log in</button>
            </form>
            """)
    }

    // MARK: Decisions list

    static func decisions(
        session: ConsoleSession, filter: DecisionFilter, rawFilter: [String: String], rows: [DecisionSummary], page: Int, hasMore: Bool,
        tenants: [String], categories: [String]
    ) -> String {
        func field(_ key: String) -> String { HTML.escape(rawFilter[key] ?? "") }
        func option(_ value: String, _ selected: String?) -> String {
            "<option value=\"\(HTML.escape(value))\"\(value == (selected ?? "") ? " selected" : "")>\(value.isEmpty ? "any" : HTML.escape(value))</option>"
        }
        let tenantOptions = ([""] + tenants).map { option($0, filter.tenant) }.joined()
        let decisionOptions = ([""] + DecisionRecord.Decision.allCases.map(\.rawValue)).map { option($0, filter.decision?.rawValue) }.joined()
        let categoryList = categories.map { "<option value=\"\(HTML.escape($0))\">" }.joined()
        var body = """
            <h1>Decisions</h1>
            <form class="filters" method="get" action="/decisions" id="filters">
            <label>Tenant<select name="tenant" id="f-tenant">\(tenantOptions)</select></label>
            <label>Decision<select name="decision" id="f-decision">\(decisionOptions)</select></label>
            <label>Harm category<input name="category" id="f-category" list="categories" value="\(field("category"))" size="14"></label>
            <datalist id="categories">\(categoryList)</datalist>
            <label>From (UTC)<input type="datetime-local" name="from" id="f-from" value="\(field("from"))"></label>
            <label>To (UTC)<input type="datetime-local" name="to" id="f-to" value="\(field("to"))"></label>
            <label>Request id<input name="request_id" id="f-request" value="\(field("request_id"))" size="18"></label>
            <label>Attribute (key=value)<input name="attribute" id="f-attribute" value="\(field("attribute"))" size="16"></label>
            <button class="primary" type="submit" id="f-apply">Filter</button> <a href="/decisions">clear</a>
            </form>
            """
        if rows.isEmpty {
            body += "<p class=\"muted\" id=\"no-decisions\">No decision matches.</p>"
        } else {
            body += """
                <table id="decisions"><thead><tr><th>Image</th><th>Decided (UTC)</th><th>Request</th><th>Tenant</th><th>Decision</th>
                <th>Triggered by</th><th>Prompt</th><th>Attributes</th><th>Verdict</th></tr></thead><tbody>
                """
            for row in rows {
                let link = "/decision?id=" + HTML.query(row.requestID)
                let thumb: String
                if row.decision == .block {
                    thumb = "<div class=\"thumb placeholder\">blocked</div>"
                } else if row.hasPublishedImage {
                    thumb = "<img class=\"thumb\(row.decision == .censor ? " blurred" : "")\" alt=\"\" loading=\"lazy\" src=\"/decision/image?id=\(HTML.query(row.requestID))\">"
                } else {
                    thumb = "<div class=\"thumb placeholder\">no image</div>"
                }
                let attributes = (try? JSONValue.parse(row.attributesJSON)).flatMap { $0 }.map { value -> String in
                    guard case .object(let members) = value else { return HTML.json(value) }
                    return members.keys.sorted().map { "\($0)=\(HTML.scalar(members[$0]))" }.joined(separator: " ")
                } ?? ""
                body += """
                    <tr data-request="\(HTML.escape(row.requestID))"><td><a href="\(link)">\(thumb)</a></td><td class="mono">\(HTML.time(row.decidedAt))</td>
                    <td><a class="request-link" href="\(link)">\(HTML.escape(row.requestID))</a></td><td>\(HTML.escape(row.tenant ?? "–"))</td>
                    <td>\(HTML.badge(row.decision))</td><td class="mono">\(HTML.escape(row.triggers.joined(separator: " ")))</td>
                    <td>\(HTML.escape(String((row.prompt ?? "").prefix(90))))</td><td class="mono">\(HTML.escape(attributes))</td>
                    <td>\(row.latestVerdict.map { "<span class=\"badge \($0.rawValue)\">\($0.rawValue)</span>" } ?? "")</td></tr>
                    """
            }
            body += "</tbody></table>"
        }
        var pager = "<div class=\"pager\">"
        let base = rawFilter.filter { !$0.value.isEmpty && $0.key != "page" }.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(HTML.query($0.value))" }.joined(separator: "&")
        func pageLink(_ p: Int) -> String { "/decisions?" + (base.isEmpty ? "" : base + "&") + "page=\(p)" }
        if page > 0 { pager += "<a href=\"\(HTML.escape(pageLink(page - 1)))\" id=\"newer\">← newer</a>" }
        pager += "<span class=\"muted\">page \(page + 1)</span>"
        if hasMore { pager += "<a href=\"\(HTML.escape(pageLink(page + 1)))\" id=\"older\">older →</a>" }
        body += pager + "</div>"
        return HTML.page(title: "Decisions", session: session, current: "/decisions", body)
    }

    // MARK: One decision

    static func decision(
        session: ConsoleSession, detail d: DecisionDetail, imageAvailable: Bool, originalAvailable: Bool = false,
        reviews: [ReviewEntry], message: String?
    ) -> String {
        var body = "<h1>Decision <span class=\"mono\" id=\"request-id\">\(HTML.escape(d.requestID))</span> \(HTML.badge(d.decision))</h1>"
        if let message { body += "<div class=\"ok\" id=\"message\">\(HTML.escape(message))</div>" }
        // The image column.
        var image = ""
        let src = "/decision/image?id=" + HTML.query(d.requestID)
        switch d.decision {
        case .block where session.role != .reviewer:
            image = "<div class=\"notice\" id=\"image-withheld\">The image of a blocked decision is shown to reviewers only.</div>"
        case .block where !imageAvailable:
            image = "<div class=\"notice\" id=\"image-absent\">No image kept: the worker keeps the generated image of a blocked decision unless images.keep_withheld is false (sha256 \(HTML.escape(d.generatedImageSHA256 ?? "–"))).</div>"
        case .allow where imageAvailable:
            image = "<div class=\"reveal-box\"><img id=\"decision-image\" alt=\"published image\" src=\"\(src)\"></div>"
        case .censor where imageAvailable, .block where imageAvailable:
            image = """
                <label class="reveal-box" id="reveal"><input type="checkbox" id="reveal-toggle" aria-label="show the image">\
                <img id="decision-image" class="blurred" alt="\(d.decision == .block ? "generated (blocked) image" : "published (censored) image")" src="\(src)">\
                <span class="hint">click to show</span></label>
                """
        default:
            image = "<div class=\"notice\" id=\"image-absent\">No image\(d.decision == .rejected ? ": the request was rejected before generation" : "").</div>"
        }
        if d.decision == .censor, session.role == .reviewer, originalAvailable {
            // What the censor blurred: the generated image, withheld from analysts.
            image += """
                <h2>Original (withheld) image</h2>\
                <label class="reveal-box" id="reveal-original"><input type="checkbox" id="reveal-original-toggle" aria-label="show the original image">\
                <img id="original-image" class="blurred" alt="generated (withheld) image" src="\(src)&amp;original=1">\
                <span class="hint">click to show</span></label>
                """
        }
        var facts: [(String, String)] = [
            ("Tenant", HTML.escape(d.tenant ?? "–")),
            ("Decided (UTC)", HTML.time(d.decidedAt)),
            ("Worker", HTML.escape(d.workerID)),
            ("Source", "<span class=\"mono\" id=\"source\">\(HTML.escape(d.topic)) / partition \(d.partition) @ offset \(d.offset)</span>"),
            ("Published to", HTML.escape(d.publishedTopic)),
            ("Generated image sha256", "<span class=\"mono\">\(HTML.escape(d.generatedImageSHA256 ?? "–"))</span>"),
            ("Published image sha256", "<span class=\"mono\">\(HTML.escape(d.publishedImageSHA256 ?? "–"))</span>"),
            ("Image reference", "<span class=\"mono\">\(HTML.escape(d.publishedImageRef ?? (d.publishedImageBase64 != nil ? "inline" : "–")))</span>"),
            ("Model sha256", "<span class=\"mono\" id=\"model-sha\">\(HTML.escape(d.modelSHA256 ?? "–"))</span>"),
            ("Overlay sha256", "<span class=\"mono\">\(HTML.escape(d.overlaySHA256 ?? "–"))</span>"),
            ("Request sha256", "<span class=\"mono\">\(HTML.escape(d.requestSHA256 ?? "–"))</span>"),
        ]
        if d.requestIDIsSynthetic { facts.append(("Request id", "synthetic: the message's own id could not be read")) }
        if let attributes = d.attributes { facts.append(("Attributes", "<span class=\"mono\">\(HTML.escape(HTML.json(attributes)))</span>")) }
        body += "<div class=\"grid\"><div>\(image)</div><div><dl class=\"facts\">"
        body += facts.map { "<dt>\($0.0)</dt><dd>\($0.1)</dd>" }.joined()
        body += "</dl></div></div>"
        body += "<h2>Prompt</h2><pre id=\"prompt\">\(HTML.escape(d.prompt ?? "–"))</pre>"
        if let negative = d.negativePrompt, !negative.isEmpty { body += "<h2>Negative prompt</h2><pre>\(HTML.escape(negative))</pre>" }

        // Reasons.
        body += "<h2>Reasons</h2>"
        if d.reasons.isEmpty {
            body += "<p class=\"muted\">None: nothing reached a threshold.</p>"
        } else {
            body += "<table id=\"reasons\"><thead><tr><th>Scorer</th><th>Label</th><th class=\"num\">Score</th><th class=\"num\">Threshold</th><th>Action</th><th>Stage</th><th>Other</th></tr></thead><tbody>"
            for reason in d.reasons {
                guard case .object(let r) = reason else {
                    body += "<tr><td colspan=\"7\" class=\"mono\">\(HTML.escape(HTML.json(reason)))</td></tr>"
                    continue
                }
                let known: Set<String> = ["scorer", "label", "score", "threshold", "action", "stage"]
                let other = r.filter { !known.contains($0.key) }
                body += """
                    <tr><td>\(HTML.escape(HTML.scalar(r["scorer"])))</td><td>\(HTML.escape(HTML.scalar(r["label"])))</td>
                    <td class="num">\(HTML.number(r["score"]?.doubleValue))</td><td class="num">\(HTML.number(r["threshold"]?.doubleValue))</td>
                    <td>\(HTML.escape(r["action"].map { HTML.scalar($0) } ?? "trigger"))</td><td>\(HTML.escape(HTML.scalar(r["stage"])))</td>
                    <td class="mono">\(other.isEmpty ? "" : HTML.escape(HTML.json(.object(other))))</td></tr>
                    """
            }
            body += "</tbody></table>"
        }

        // Scores, with the threshold a reason names for the same scorer and label.
        var thresholds: [String: Double] = [:]
        for case .object(let r) in d.reasons {
            if let scorer = r["scorer"]?.stringValue, let label = r["label"]?.stringValue, let t = r["threshold"]?.doubleValue {
                thresholds["\(scorer)\u{0}\(label)"] = max(thresholds["\(scorer)\u{0}\(label)"] ?? t, t)
            }
        }
        body += "<h2>Scores</h2>"
        if d.scores.isEmpty {
            body += "<p class=\"muted\">No score.</p>"
        } else {
            body += "<table id=\"scores\"><thead><tr><th>Scorer</th><th>Label</th><th>Subject</th><th class=\"num\">Score</th><th class=\"num\">Threshold reached</th></tr></thead><tbody>"
            for score in d.scores {
                guard case .object(let s) = score else { continue }
                let key = "\(s["scorer"]?.stringValue ?? "")\u{0}\(s["label"]?.stringValue ?? "")"
                let threshold = thresholds[key]
                body += """
                    <tr\(threshold != nil ? " class=\"triggered\"" : "")><td>\(HTML.escape(HTML.scalar(s["scorer"])))</td><td>\(HTML.escape(HTML.scalar(s["label"])))</td>
                    <td>\(HTML.escape(HTML.scalar(s["subject"])))</td><td class="num">\(HTML.number(s["score"]?.doubleValue))</td>
                    <td class="num">\(threshold.map { HTML.number($0) } ?? "<span class=\"muted\">below</span>")</td></tr>
                    """
            }
            body += "</tbody></table><p class=\"muted\">Thresholds are those of the reasons recorded with the decision; a score without one stayed below every threshold of the tenant's policy.</p>"
        }

        // Mitigations with their effective parameters.
        body += "<h2>Mitigations</h2>"
        if case .object(let m)? = d.mitigations, !m.isEmpty {
            body += "<table id=\"mitigations\"><thead><tr><th>Mitigation</th><th>Effective parameters</th></tr></thead><tbody>"
            for key in m.keys.sorted() {
                body += "<tr><td>\(HTML.escape(key))</td><td class=\"mono\">\(HTML.escape(HTML.json(m[key])))</td></tr>"
            }
            body += "</tbody></table>"
        } else {
            body += "<p class=\"muted\">None recorded.</p>"
        }

        // Escalation tries.
        if !d.tries.isEmpty {
            body += "<h2>Escalation tries</h2><table id=\"tries\"><thead><tr><th>Try</th><th>Step</th><th>Decision</th><th class=\"num\">Duration (ms)</th><th>Steps run</th><th>Early abort</th><th>Published</th><th>Mitigations</th><th>Reasons</th></tr></thead><tbody>"
            for t in d.tries {
                let steps = "\(HTML.scalar(t["steps_run"])) / \(HTML.scalar(t["steps_total"]))"
                body += """
                    <tr><td>\(HTML.escape(HTML.scalar(t["try"])))</td><td>\(HTML.escape(HTML.scalar(t["step"])))</td><td>\(HTML.escape(HTML.scalar(t["decision"])))</td>
                    <td class="num">\(HTML.escape(HTML.scalar(t["duration_ms"])))</td><td>\(HTML.escape(steps))</td>
                    <td class="mono">\(t["early_abort"].map { HTML.escape(HTML.json($0)) } ?? "")</td><td>\(HTML.escape(HTML.scalar(t["published"])))</td>
                    <td class="mono">\(HTML.escape(HTML.json(t["mitigations"])))</td><td class="mono">\(HTML.escape(HTML.json(t["reasons"])))</td></tr>
                    """
            }
            body += "</tbody></table>"
        }

        if let raw = d.rawRequest {
            let text = String(decoding: raw, as: UTF8.self)
            body += "<h2>Raw request (\(raw.count) bytes)</h2><pre id=\"raw-request\">\(HTML.escape(String(text.prefix(20_000))))\(text.count > 20_000 ? "\n…" : "")</pre>"
        }
        if let result = d.publishedResult {
            body += "<h2>Published message (\(HTML.escape(d.publishedTopic)))</h2><pre id=\"published\">\(HTML.escape(HTML.prettyJSON(result)))</pre>"
        }

        // Verdicts.
        body += "<h2>Reviews</h2>"
        if reviews.isEmpty {
            body += "<p class=\"muted\" id=\"no-reviews\">No verdict yet.</p>"
        } else {
            body += "<table id=\"reviews\"><thead><tr><th>When (UTC)</th><th>Reviewer</th><th>Verdict</th><th>Note</th></tr></thead><tbody>"
            for r in reviews {
                body += "<tr><td class=\"mono\">\(HTML.time(r.reviewedAt))</td><td>\(HTML.escape(r.reviewer))</td><td><span class=\"badge \(r.verdict.rawValue)\">\(r.verdict.rawValue)</span></td><td>\(HTML.escape(r.note))</td></tr>"
            }
            body += "</tbody></table>"
        }
        if d.isReviewable && session.role == .reviewer {
            body += """
                <form class="review-form" method="post" action="/decision/review" id="review-form">\(HTML.csrfField(session.csrfToken))
                <input type="hidden" name="id" value="\(HTML.escape(d.requestID))">
                <p>Your verdict on this \(d.decision.rawValue) decision (recorded as \(HTML.escape(session.user)); the decision itself stays as it is):</p>
                <label><input type="radio" name="verdict" value="uphold" id="verdict-uphold" required> uphold: the decision was right</label><br>
                <label><input type="radio" name="verdict" value="overturn" id="verdict-overturn"> overturn: it should not have been \(d.decision == .block ? "blocked" : "censored")</label>
                <p><textarea name="note" id="review-note" maxlength="4000" placeholder="note (optional)"></textarea></p>
                <button class="primary" type="submit" id="review-submit">Record verdict</button></form>
                """
        } else if d.isReviewable {
            body += "<p class=\"muted\" id=\"review-readonly\">Reviewers record verdicts on censored and blocked decisions; analysts read them.</p>"
        }
        return HTML.page(title: "Decision \(d.requestID)", session: session, current: "/decisions", body)
    }

    // MARK: Reviews

    static func reviews(session: ConsoleSession, rates: [OverturnRate], recent: [ReviewEntry]) -> String {
        var body = "<h1>Reviews</h1><h2>Overturn rate per scorer and category</h2>"
        body += "<p class=\"muted\">The share of reviewed censored or blocked decisions whose latest verdict is overturn, for each scorer and label that triggered them: an estimate of false positives. Also on <code>/metrics</code> as <code>chaperone_console_overturn_rate</code>.</p>"
        body += rateTable(rates)
        body += "<h2>Latest verdicts</h2>"
        if recent.isEmpty {
            body += "<p class=\"muted\">No verdict yet.</p>"
        } else {
            body += "<table id=\"recent-reviews\"><thead><tr><th>When (UTC)</th><th>Request</th><th>Tenant</th><th>Decision</th><th>Verdict</th><th>Reviewer</th><th>Note</th></tr></thead><tbody>"
            for r in recent {
                body += """
                    <tr><td class="mono">\(HTML.time(r.reviewedAt))</td><td><a href="/decision?id=\(HTML.query(r.requestID))">\(HTML.escape(r.requestID))</a></td>
                    <td>\(HTML.escape(r.tenant ?? "–"))</td><td>\(HTML.badge(r.decision))</td><td><span class="badge \(r.verdict.rawValue)">\(r.verdict.rawValue)</span></td>
                    <td>\(HTML.escape(r.reviewer))</td><td>\(HTML.escape(r.note))</td></tr>
                    """
            }
            body += "</tbody></table>"
        }
        return HTML.page(title: "Reviews", session: session, current: "/reviews", body)
    }

    static func rateTable(_ rates: [OverturnRate]) -> String {
        guard !rates.isEmpty else { return "<p class=\"muted\" id=\"no-rates\">No reviewed decision yet.</p>" }
        var out = "<table id=\"overturn-rates\"><thead><tr><th>Scorer</th><th>Category</th><th class=\"num\">Reviewed</th><th class=\"num\">Overturned</th><th class=\"num\">Overturn rate</th></tr></thead><tbody>"
        for r in rates {
            out += "<tr><td>\(HTML.escape(r.scorer))</td><td>\(HTML.escape(r.category))</td><td class=\"num\">\(r.reviewed)</td><td class=\"num\">\(r.overturned)</td><td class=\"num\">\(HTML.percent(r.rate))</td></tr>"
        }
        return out + "</tbody></table>"
    }

    static func error(session: ConsoleSession?, status: Int, message: String) -> String {
        HTML.page(title: "Error \(status)", session: session, "<h1>\(status)</h1><div class=\"error\" id=\"error\">\(HTML.escape(message))</div><p><a href=\"/decisions\">Decisions</a></p>")
    }
}
