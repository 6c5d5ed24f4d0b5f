import Contracts
import Foundation
import Testing
@testable import Guidance

/// A model folder's `attribute-switching.json`: reading, validation naming file and field, and
/// its τ reaching the guidance of a request that gives none.
@Suite struct AttributeSwitchingSettingsTests {
    func folder(with text: String?) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("switching-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        if let text {
            try Data(text.utf8).write(to: url.appendingPathComponent(AttributeSwitchingSettings.modelFolderFileName))
        }
        return url
    }

    @Test func readsTheModelFoldersFileAndFallsBackToTheBuiltInTau() throws {
        let without = try folder(with: nil)
        defer { try? FileManager.default.removeItem(at: without) }
        #expect(try AttributeSwitchingSettings.resolve(modelFolder: without) == nil)
        #expect(AttributeSwitchingSettings.defaultTau(nil) == AttributeSwitch.defaultTau)

        let with = try folder(with: #"{"tau": 950}"#)
        defer { try? FileManager.default.removeItem(at: with) }
        let resolved = try #require(try AttributeSwitchingSettings.resolve(modelFolder: with))
        #expect(resolved.settings.tau == 950 && resolved.settings.sweep == nil)
        #expect(resolved.source.lastPathComponent == "attribute-switching.json")
        #expect(AttributeSwitchingSettings.defaultTau(resolved.settings) == 950)
    }

    @Test func writtenSettingsReadBackEqual() throws {
        let url = try folder(with: nil)
        defer { try? FileManager.default.removeItem(at: url) }
        let settings = AttributeSwitchingSettings(
            tau: 1000,
            chosenBy: .init(rule: "least deviation above the floor", promptSet: "sweep.json", firstSeed: 1, seeds: 8, steps: 20,
                            guidanceScale: 5, utilityFloorPSNRDB: 10, balanceTau: 430),
            sweep: [.init(tau: 0, deviation: 0.5, steeringSuccess: 0.5, psnrDB: nil, meanAbs: 0, imbalance: 1.5),
                    .init(tau: 1000, deviation: 0, steeringSuccess: 1, psnrDB: 14.2, meanAbs: 0.1, imbalance: 1.5)])
        let file = url.appendingPathComponent(AttributeSwitchingSettings.modelFolderFileName)
        try settings.write(to: file)
        #expect(try AttributeSwitchingSettings.load(from: file) == settings)
        // An infinite PSNR (identical images) is written as null, not left out.
        #expect(try String(contentsOf: file, encoding: .utf8).contains(#""psnr_db" : null"#))
    }

    @Test func badFilesAreErrorsNamingTheFileAndField() throws {
        let cases: [(String, String)] = [
            (#"{"tau": 1200}"#, "field 'tau' is 1200"),
            (#"{"tau": -1}"#, "field 'tau' is -1"),
            (#"{"tau": "800"}"#, "field 'tau'"),
            (#"{"chosen_by": null}"#, "missing field 'tau'"),
            (#"{"tau": 800, "Tau": 900}"#, "unknown field 'Tau'"),
            (#"{"tau": 800, "sweep": [{"tau": 2000, "mean_abs": 0}]}"#, "field 'sweep[0].tau' is 2000"),
            (#"{"tau": 800, "sweep": [{"tau": 100}]}"#, "missing field 'sweep[0].mean_abs'"),
            ("[800]", "must be a JSON object"),
        ]
        for (text, message) in cases {
            let url = try folder(with: text)
            defer { try? FileManager.default.removeItem(at: url) }
            let file = url.appendingPathComponent("attribute-switching.json").path
            #expect {
                _ = try AttributeSwitchingSettings.resolve(modelFolder: url)
            } throws: { error in
                let text = String(describing: error)
                return text.hasPrefix(file) && text.contains(message)
            }
        }
    }

    @Test func theDefaultTauReachesARequestWithoutOne() throws {
        let families = AttributeFamilies.standard
        let without = Mitigations(attributeSwitching: AttributeSwitching(switchPrompt: "a photo of a nurse"))
        let guidance = try MitigationGuidance(without, seed: 1, guidanceScale: 7.5, families: families, defaultSwitchTau: 321)
        #expect(guidance.promptSwitch == .init(prompt: "a photo of a nurse", tau: 321))
        #expect(guidance.applied.attributeSwitching?.tau == 321)
        let with = Mitigations(attributeSwitching: AttributeSwitching(switchPrompt: "a photo of a nurse", tau: 650))
        let given = try MitigationGuidance(with, seed: 1, guidanceScale: 7.5, families: families, defaultSwitchTau: 321)
        #expect(given.promptSwitch?.tau == 650 && given.applied.attributeSwitching?.tau == 650)
    }
}
