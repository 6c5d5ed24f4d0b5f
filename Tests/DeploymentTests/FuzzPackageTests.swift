import Foundation
import Testing

/// ops/fuzz/Package.swift builds the library targets of the main package from links in
/// ops/fuzz/Sources/, so it must declare every target those depend on, with the same
/// dependencies; otherwise the fuzz build (run by CI after `swift test`) fails to compile.
@Suite struct FuzzPackageTests {
    /// `name` → the quoted (local target) names in its `dependencies: [...]`, for every
    /// `.target(name:` and `.systemLibrary(name:` of a manifest.
    static func localTargets(inManifest text: String) -> [String: Set<String>] {
        var targets: [String: Set<String>] = [:]
        let declaration = #/\.(?:target|systemLibrary)\(name: "([A-Za-z0-9_]+)"/#
        for match in text.matches(of: declaration) {
            let name = String(match.output.1)
            let rest = text[match.range.upperBound...]
            // The target's own arguments end at the next declaration.
            let end = rest.firstMatch(of: #/\n\s*\.(?:target|systemLibrary|executableTarget|testTarget|plugin)\(/#)?.range.lowerBound ?? rest.endIndex
            let arguments = rest[..<end]
            var dependencies: Set<String> = []
            if let list = arguments.firstMatch(of: #/dependencies: \[([^\]]*)\]/#) {
                // Products (`.product(name: "X", package: ...)`) come from other packages.
                let withoutProducts = String(list.output.1).replacing(#/\.product\([^)]*\)/#, with: "")
                for quoted in withoutProducts.matches(of: #/"([A-Za-z0-9_]+)"/#) { dependencies.insert(String(quoted.output.1)) }
            }
            targets[name] = dependencies
        }
        return targets
    }

    @Test func linkedTargetsAndTheirDependenciesAreDeclared() throws {
        let main = Self.localTargets(inManifest: try RepositoryFiles.text("Package.swift"))
        let fuzz = Self.localTargets(inManifest: try RepositoryFiles.text("ops/fuzz/Package.swift"))
        let linked = try FileManager.default.contentsOfDirectory(
            atPath: RepositoryFiles.root.appendingPathComponent("ops/fuzz/Sources").path)
        #expect(linked.contains("Tensor"))
        #expect(main["Tensor"]?.contains("CBLAS") == true, "the manifest reader missed Tensor's dependencies")
        for name in linked.sorted() {
            let declared = try #require(main[name], "ops/fuzz/Sources/\(name) links a target the main package does not declare")
            let fuzzDependencies = fuzz[name]
            #expect(fuzzDependencies != nil, "ops/fuzz/Package.swift does not declare \(name)")
            #expect(fuzzDependencies == declared, "\(name) depends on \(declared.sorted()) in Package.swift but on \((fuzzDependencies ?? []).sorted()) in ops/fuzz/Package.swift")
            for dependency in declared.sorted() {
                #expect(linked.contains(dependency), "ops/fuzz/Sources has no link to \(dependency), which \(name) depends on")
            }
        }
    }
}
