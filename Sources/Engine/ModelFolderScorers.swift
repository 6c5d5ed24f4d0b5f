import Foundation
import HarmScoring

/// The ONNX scorers a model folder ships in `scorers/` (`<name>.json` + `<name>.onnx`), loaded
/// like `safety_checker/`: automatically when the folder exists. Only harm scorers (with a
/// harm category) take part in decisions; attribute classifiers are for `chaperone eval`.
public enum ModelFolderScorers {
    /// The harm scorers of `model/scorers/`, sorted by name; none when the folder is absent.
    public static func harmScorers(model: URL) throws(HarmScoringError) -> [OnnxImageScorer] {
        let folder = model.appendingPathComponent("scorers")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        return try OnnxImageScorer.loadFolder(folder).filter(\.descriptor.isHarmScorer)
    }
}

extension OnnxImageScorer {
    /// The scorer as one of the engine's image scorers (its scores, scorer = its name).
    var namedImageScorer: NamedImageScorer {
        let scorer = self
        return NamedImageScorer(name: name) { rgb, width, height in
            try scorer.score(rgb: rgb, width: width, height: height).scores
        }
    }
}
