import Foundation

/// Turns the raw bytes of a requests-topic message into a ``GenerationRequest``, or a
/// ``RequestRejection`` that says exactly what is wrong. Never clamps, never guesses.
///
/// Order of checks: empty, size, UTF-8, JSON syntax, object shape, unknown fields, typed
/// decoding (missing fields, wrong types), then value rules and the worker's ``RequestLimits``.
public struct RequestValidator: Sendable {
    public var limits: RequestLimits

    public init(limits: RequestLimits = RequestLimits()) {
        self.limits = limits
    }

    /// Decodes and validates one message value.
    public func decode(_ bytes: [UInt8]) -> Result<GenerationRequest, RequestRejection> {
        Result { () throws(RequestRejection) -> GenerationRequest in try decodeOrThrow(bytes) }
    }

    /// Decodes and validates one message value, throwing a ``RequestRejection``.
    public func decodeOrThrow(_ bytes: [UInt8]) throws(RequestRejection) -> GenerationRequest {
        if bytes.isEmpty {
            throw RequestRejection(.emptyMessage, "the message has no value")
        }
        if bytes.count > limits.maxMessageBytes {
            throw RequestRejection(
                .oversizeMessage, "the message is \(bytes.count) bytes; the worker accepts at most \(limits.maxMessageBytes)")
        }
        if let offset = Self.firstInvalidUTF8Offset(bytes) {
            throw RequestRejection(.invalidUTF8, "the message is not valid UTF-8 (first bad byte at offset \(offset))")
        }
        let data = Data(bytes)
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw RequestRejection(.malformedJSON, "the message is not valid JSON: \(Self.describeSyntaxError(error))")
        }
        guard case .object = document else {
            throw RequestRejection(.notAnObject, "the message is a JSON \(document.typeName), expected an object")
        }
        let requestID = document["request_id"]?.stringValue.flatMap { Self.isIdentifier($0, maxLength: 128) ? $0 : nil }
        do {
            try Self.checkUnknownFields(document)
            try Self.checkSeedRange(document["seed"])
            let request = try Self.typedDecode(data)
            try validate(request)
            return request
        } catch var rejection {
            rejection.requestID = requestID
            throw rejection
        }
    }

    /// Checks value rules and limits of an already decoded request.
    public func validate(_ request: GenerationRequest) throws(RequestRejection) {
        guard Self.isIdentifier(request.requestID, maxLength: 128) else {
            throw RequestRejection(.invalidRequestID, "`request_id` must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', '-' starting with a letter or digit")
        }
        guard Self.isIdentifier(request.tenant, maxLength: 64) else {
            throw RequestRejection(.invalidTenant, "`tenant` must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-' starting with a letter or digit")
        }
        if request.prompt.isEmpty {
            throw RequestRejection(.emptyPrompt, "`prompt` is empty")
        }
        try checkText(request.prompt, field: "prompt")
        try checkText(request.negativePrompt, field: "negative_prompt")
        guard (1...limits.maxSteps).contains(request.steps) else {
            throw RequestRejection(.stepsOutOfRange, "`steps` is \(request.steps); the worker accepts 1 to \(limits.maxSteps)")
        }
        for (name, value) in [("width", request.width), ("height", request.height)] {
            guard value % 8 == 0 else {
                throw RequestRejection(.dimensionNotMultipleOf8, "`\(name)` is \(value); it must be a multiple of 8")
            }
            guard value >= 64, value <= 4096 else {
                throw RequestRejection(.dimensionsOutOfRange, "`\(name)` is \(value); it must be 64 to 4096")
            }
        }
        guard request.width * request.height <= limits.maxPixels else {
            throw RequestRejection(
                .dimensionsOutOfRange,
                "\(request.width)x\(request.height) is \(request.width * request.height) pixels; the worker accepts at most \(limits.maxPixels)")
        }
        guard request.seed <= maximumRequestSeed else {
            throw RequestRejection(.seedOutOfRange, "`seed` is \(request.seed); it must be 0 to \(maximumRequestSeed)")
        }
        guard request.guidanceScale.isFinite, request.guidanceScale >= 0, request.guidanceScale <= limits.maxGuidanceScale else {
            throw RequestRejection(.guidanceOutOfRange, "`guidance_scale` is \(request.guidanceScale); the worker accepts 0 to \(limits.maxGuidanceScale)")
        }
        guard limits.allowedSchedulers.contains(request.scheduler) else {
            throw RequestRejection(
                .unsupportedScheduler,
                "`scheduler` \"\(Self.shortened(request.scheduler))\" is not allowed; the worker accepts \(limits.allowedSchedulers.sorted().joined(separator: ", "))")
        }
        try validate(request.mitigations, guidanceScale: request.guidanceScale)
        if let attributes = request.attributes { try validate(attributes) }
    }

    private func validate(_ attributes: [String: String]) throws(RequestRejection) {
        guard attributes.count <= maximumRequestAttributes else {
            throw RequestRejection(.invalidAttributes, "`attributes` has \(attributes.count) entries; at most \(maximumRequestAttributes) are allowed")
        }
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
            guard Self.isAttributeKey(key) else {
                throw RequestRejection(
                    .invalidAttributes,
                    "attribute key \"\(Self.shortened(key))\" must be 1 to 64 characters of a-z, 0-9, '.', '_', '-' starting with a letter")
            }
            let count = value.unicodeScalars.count
            guard (1...256).contains(count) else {
                throw RequestRejection(.invalidAttributes, "`attributes.\(key)` is \(count) characters; it must be 1 to 256")
            }
            if let scalar = value.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
                throw RequestRejection(
                    .invalidAttributes, "`attributes.\(key)` contains the control character \(String(format: "U+%04X", scalar.value))")
            }
        }
    }

    /// `^[a-z][a-z0-9._-]{0,63}$`: attribute keys are plain lower-case names so that audit
    /// queries can name them without quoting.
    public static func isAttributeKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard !bytes.isEmpty, bytes.count <= 64, (0x61...0x7A).contains(bytes[0]) else { return false }
        return bytes.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    private func validate(_ mitigations: Mitigations, guidanceScale: Double) throws(RequestRejection) {
        if let safety = mitigations.safetyGuidance {
            switch (safety.preset, safety.parameters) {
            case (nil, nil), (.some, .some):
                throw RequestRejection(.invalidMitigation, "`mitigations.safety_guidance` needs exactly one of `preset` or `parameters`")
            case (nil, .some(let p)):
                if let problem = p.problem {
                    throw RequestRejection(.invalidMitigation, "`mitigations.safety_guidance.parameters` \(problem)")
                }
            case (.some, nil):
                break
            }
            if let concept = safety.concept {
                try checkText(concept, field: "mitigations.safety_guidance.concept", nonEmpty: true)
            }
        }
        let edits = mitigations.semanticEdits ?? []
        guard edits.count <= limits.maxSemanticEdits else {
            throw RequestRejection(.invalidMitigation, "`mitigations.semantic_edits` has \(edits.count) edits; the worker accepts at most \(limits.maxSemanticEdits)")
        }
        for (index, edit) in edits.enumerated() {
            let field = "mitigations.semantic_edits[\(index)]"
            try checkText(edit.concept, field: "\(field).concept", nonEmpty: true)
            if let problem = edit.problem {
                throw RequestRejection(.invalidMitigation, "`\(field)` \(problem)")
            }
        }
        if let momentum = mitigations.semanticMomentum {
            guard momentum.scale.isFinite, momentum.scale >= 0, momentum.beta.isFinite, (0..<1).contains(momentum.beta) else {
                throw RequestRejection(.invalidMitigation, "`mitigations.semantic_momentum` out of range: scale >= 0, 0 <= beta < 1")
            }
        }
        if let fairness = mitigations.fairness {
            guard Self.isIdentifier(fairness.family, maxLength: 64) else {
                throw RequestRejection(.invalidMitigation, "`mitigations.fairness.family` must be a name of letters, digits, '.', '_' or '-'")
            }
            guard fairness.proportions.count >= 2 else {
                throw RequestRejection(.invalidMitigation, "`mitigations.fairness.proportions` needs at least two values")
            }
            for (value, share) in fairness.proportions.sorted(by: { $0.key < $1.key }) {
                try checkText(value, field: "mitigations.fairness.proportions key", nonEmpty: true)
                guard share.isFinite, (0...1).contains(share) else {
                    throw RequestRejection(.invalidMitigation, "`mitigations.fairness.proportions.\(Self.shortened(value))` is \(share); it must be 0 to 1")
                }
            }
            let total = fairness.proportions.values.reduce(0, +)
            guard abs(total - 1) <= 1e-6 else {
                throw RequestRejection(.invalidMitigation, "`mitigations.fairness.proportions` sum to \(total); they must sum to 1")
            }
        }
        if let switching = mitigations.attributeSwitching {
            try checkText(switching.switchPrompt, field: "mitigations.attribute_switching.switch_prompt", nonEmpty: true)
            if let tau = switching.tau, !(0...1000).contains(tau) {
                throw RequestRejection(.invalidMitigation, "`mitigations.attribute_switching.tau` is \(tau); it must be 0 to 1000")
            }
        }
        let guided = mitigations.safetyGuidance != nil || !(mitigations.semanticEdits ?? []).isEmpty || mitigations.fairness != nil
        if guided && guidanceScale <= 1 {
            throw RequestRejection(
                .invalidMitigation,
                "safety guidance, semantic edits and fairness act through classifier-free guidance; they need guidance_scale > 1 (got \(guidanceScale))")
        }
    }

    /// Rejects control characters (all C0 but tab, LF, CR; DEL; C1) and over-long text.
    private func checkText(_ text: String, field: String, nonEmpty: Bool = false) throws(RequestRejection) {
        if nonEmpty, text.isEmpty {
            throw RequestRejection(.invalidMitigation, "`\(field)` is empty")
        }
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            let v = scalar.value
            let isControl = (v < 0x20 && v != 0x09 && v != 0x0A && v != 0x0D) || (0x7F...0x9F).contains(v)
            if isControl {
                let name = v == 0 ? "NUL" : String(format: "U+%04X", v)
                throw RequestRejection(.controlCharacters, "`\(field)` contains the control character \(name) at character \(count - 1)")
            }
        }
        guard count <= limits.maxPromptLength else {
            throw RequestRejection(.promptTooLong, "`\(field)` is \(count) characters; the worker accepts at most \(limits.maxPromptLength)")
        }
    }

    // MARK: - Structural checks

    /// `^[A-Za-z0-9][A-Za-z0-9._-]{0,maxLength-1}$`
    static func isIdentifier(_ text: String, maxLength: Int) -> Bool {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
        guard alnum(bytes[0]) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        if String(validating: bytes, as: UTF8.self) != nil { return nil }
        var offset = 0
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return offset
            case .error: return offset
            }
        }
    }

    /// The schema of every object the contract defines: its allowed keys and nested objects.
    private static func checkUnknownFields(_ document: JSONValue) throws(RequestRejection) {
        try checkKeys(document, allowed: GenerationRequest.CodingKeys.allCases.map(\.rawValue), path: "")
        guard let mitigations = document["mitigations"] else { return }
        try checkKeys(mitigations, allowed: Mitigations.CodingKeys.allCases.map(\.rawValue), path: "mitigations")
        if let safety = mitigations["safety_guidance"] {
            try checkKeys(safety, allowed: SafetyGuidance.CodingKeys.allCases.map(\.rawValue), path: "mitigations.safety_guidance")
            if let parameters = safety["parameters"] {
                try checkKeys(parameters, allowed: SLDParameters.CodingKeys.allCases.map(\.rawValue), path: "mitigations.safety_guidance.parameters")
            }
        }
        if case .array(let edits)? = mitigations["semantic_edits"] {
            for (index, edit) in edits.enumerated() {
                try checkKeys(edit, allowed: SemanticEdit.CodingKeys.allCases.map(\.rawValue), path: "mitigations.semantic_edits[\(index)]")
            }
        }
        if let fairness = mitigations["fairness"] {
            try checkKeys(fairness, allowed: FairnessTarget.CodingKeys.allCases.map(\.rawValue), path: "mitigations.fairness")
        }
        if let momentum = mitigations["semantic_momentum"] {
            try checkKeys(momentum, allowed: SemanticMomentum.CodingKeys.allCases.map(\.rawValue), path: "mitigations.semantic_momentum")
        }
        if let switching = mitigations["attribute_switching"] {
            try checkKeys(switching, allowed: AttributeSwitching.CodingKeys.allCases.map(\.rawValue), path: "mitigations.attribute_switching")
        }
    }

    private static func checkKeys(_ value: JSONValue, allowed: [String], path: String) throws(RequestRejection) {
        guard case .object(let members) = value else { return }  // wrong types are reported by typed decoding
        for key in members.keys.sorted() where !allowed.contains(key) {
            let name = path.isEmpty ? key : "\(path).\(key)"
            throw RequestRejection(.unknownField, "unknown field `\(shortened(name))`; the contract does not define it")
        }
    }

    private static func checkSeedRange(_ seed: JSONValue?) throws(RequestRejection) {
        switch seed {
        case .integer(let value)? where value < 0 || UInt64(value) > maximumRequestSeed:
            throw RequestRejection(.seedOutOfRange, "`seed` is \(value); it must be 0 to \(maximumRequestSeed)")
        case .number(let value)? where value.rounded() == value:
            throw RequestRejection(.seedOutOfRange, "`seed` is \(value); it must be an integer 0 to \(maximumRequestSeed)")
        default:
            return
        }
    }

    private static func typedDecode(_ data: Data) throws(RequestRejection) -> GenerationRequest {
        do {
            return try JSONDecoder().decode(GenerationRequest.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case .keyNotFound(let key, let context):
                throw RequestRejection(.missingField, "missing required field `\(path(context.codingPath + [key]))`")
            case .typeMismatch(let type, let context):
                throw RequestRejection(.wrongType, "field `\(path(context.codingPath))` has the wrong type: expected \(jsonTypeName(type))")
            case .valueNotFound(let type, let context):
                throw RequestRejection(.wrongType, "field `\(path(context.codingPath))` is null: expected \(jsonTypeName(type))")
            case .dataCorrupted(let context):
                let field = path(context.codingPath)
                if field.hasSuffix("preset") {
                    throw RequestRejection(.invalidMitigation, "`\(field)` must be one of \(SafetyPreset.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                throw RequestRejection(.wrongType, "field `\(field)` has the wrong type or an out-of-range number")
            @unknown default:
                throw RequestRejection(.wrongType, "the message does not match the contract")
            }
        } catch {
            throw RequestRejection(.wrongType, "the message does not match the contract")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                // Keys come from the message: quoted without control characters and cut short,
                // so a rejection's message is always storable and readable.
                let name = shortened(key.stringValue)
                text += text.isEmpty ? name : ".\(name)"
            }
        }
        return text
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Bool.Type: "boolean"
        case is Int.Type, is UInt64.Type, is Int64.Type: "integer"
        case is Double.Type: "number"
        case is [Any].Type: "array"
        default: "object"
        }
    }

    private static func describeSyntaxError(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError as NSError?, let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return detail
            }
            return context.debugDescription
        }
        return "unreadable document"
    }

    /// Untrusted text quoted in a message, cut to 64 characters.
    static func shortened(_ text: String) -> String {
        let scalars = text.unicodeScalars.prefix(64).filter { $0.value >= 0x20 && $0.value != 0x7F }
        var result = String(String.UnicodeScalarView(scalars))
        if text.unicodeScalars.count > 64 { result += "…" }
        return result
    }
}
