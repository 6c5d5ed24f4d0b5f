import Foundation
import PackagePlugin

/// Writes `GeneratedBuildInfo.swift` into the target before every build: the git commit the
/// sources were built from (`+dirty` when the tree had changes), or `SOURCE_COMMIT` when
/// set (an image build without `.git`), else `unknown`. The file is only rewritten when the
/// commit changes, so an unchanged tree does not recompile the target.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "GeneratedBuildInfo.swift")
        let script = #"""
            set -u
            commit="${SOURCE_COMMIT:-}"
            if [ -z "$commit" ]; then
              commit="$(git -C "$1" rev-parse HEAD 2>/dev/null || true)"
              if [ -n "$commit" ] && ! git -C "$1" diff --quiet HEAD -- 2>/dev/null; then commit="$commit+dirty"; fi
            fi
            case "$commit" in ""|*[!0-9a-zA-Z+._-]*) commit=unknown ;; esac
            temporary="$(mktemp)"
            printf '// Generated at build time by the BuildInfo plugin. Do not edit.\nenum GeneratedBuildInfo {\n    static let commit = "%s"\n}\n' "$commit" > "$temporary"
            if cmp -s "$temporary" "$2"; then rm -f "$temporary"; else mv "$temporary" "$2"; fi
            """#
        return [
            .prebuildCommand(
                displayName: "Build info: the git commit of the sources",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "build-info", context.package.directoryURL.path, output.path],
                outputFilesDirectory: context.pluginWorkDirectoryURL)
        ]
    }
}
