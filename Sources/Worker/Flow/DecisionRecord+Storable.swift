import AuditStore

extension DecisionRecord {
    /// This row with every text and JSON field made storable in PostgreSQL (U+0000 and unpaired
    /// surrogate escapes replaced by U+FFFD, see `StorableText`), and the names of the fields
    /// that changed. Bytes (`payload`, `raw_request`) are never changed.
    func storable() -> (row: DecisionRecord, changedFields: [String]) {
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
        var reasons: String? = row.reasonsJSON
        json(&reasons, "reasons")
        row.reasonsJSON = reasons ?? "[]"
        json(&row.mitigationsJSON, "mitigations")
        json(&row.scoresJSON, "scores")
        json(&row.attributesJSON, "attributes")
        json(&row.triesJSON, "tries")
        return (row, changed)
    }
}
