import Engine
import Foundation
import Logging

/// Finds the model to run: -m, then $HOTMOE_MODEL, then the embedded default model shipped
/// in the repository's models/ folder; failing all, a generated small model (so the main job
/// still runs on a fresh machine).
enum ModelLocator {
    static let defaultName = "models/hotmoe-default-q8_0.gguf"

    static func resolve(_ explicit: String?, logger: Logger) throws -> String {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else { throw CLIError("model file not found: \(explicit)") }
            return explicit
        }
        if let env = ProcessInfo.processInfo.environment["HOTMOE_MODEL"], !env.isEmpty {
            guard FileManager.default.fileExists(atPath: env) else { throw CLIError("HOTMOE_MODEL points to a missing file: \(env)") }
            return env
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidates = [FileManager.default.currentDirectoryPath + "/" + defaultName]
        // From .build/<triple>/<config>/hotmoe back to the package root.
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent(defaultName).path)
            dir = dir.deletingLastPathComponent()
        }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/hotmoe")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let generated = cache.appendingPathComponent("synthetic-small-q8_0.gguf").path
        if !FileManager.default.fileExists(atPath: generated) {
            logger.info("no default model found (\(defaultName)); generating a small random-weight model at \(generated)")
            var spec = SyntheticModelSpec.preset("small")!
            spec.weightType = "q8_0"
            try SyntheticModel.write(spec, to: generated)
        }
        return generated
    }
}
