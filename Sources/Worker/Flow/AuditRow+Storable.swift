import AuditStore

extension AuditRow {
    /// This row with every text and JSON field made storable in PostgreSQL (U+0000 and unpaired
    /// surrogate escapes replaced by U+FFFD, see `StorableText`), and the names of the fields
    /// that changed. Bytes (`payload`, `raw_request`) are never changed.
    func storable() -> (row: AuditRow, changedFields: [String]) {
        var row = self
        var changed: [String] = []
        func text(_ value: inout String?, _ name: String) {
            guard let current = value else { return }
            let result = StorableText.text(current)
            if result.changed { value = result.text; changed.append(name) }
        }
        func json(_ value: inout String?, _ name: String) {
            guard let current = value else { return }
            let result = StorableText.json(current)
            if result.changed { value = result.json; changed.append(name) }
        }
        var tenant = row.tenant, prompt = row.prompt, negative = row.negativePrompt
        text(&tenant, "tenant")
        text(&prompt, "prompt")
        text(&negative, "negative_prompt")
        row.tenant = tenant
        row.prompt = prompt
        row.negativePrompt = negative
        var reasons: String? = row.reasonsJSON, mitigations: String? = row.mitigationsJSON, scores: String? = row.scoresJSON
        json(&reasons, "reasons")
        json(&mitigations, "mitigations")
        json(&scores, "scores")
        json(&row.attributesJSON, "attributes")
        json(&row.triesJSON, "tries")
        row.reasonsJSON = reasons ?? "[]"
        row.mitigationsJSON = mitigations ?? "{}"
        row.scoresJSON = scores ?? "[]"
        return (row, changed)
    }
}
