import Foundation

/// Where a setting's value comes from when the command line does not give it: environment
/// variables (seed 000's names), then the INI file (`--config`), where keys are the long flag
/// names without `--` (`moe-hot-cache-max-mib = -1`).
public struct SettingsSource: Sendable {
    public let environment: [String: String]
    public let ini: [String: String]
    public let iniPath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, iniPath: String? = nil,
                knownKeys: Set<String>? = nil) throws {
        self.environment = environment
        self.iniPath = iniPath
        guard let iniPath else { ini = [:]; return }
        let text: String
        do { text = try String(contentsOfFile: iniPath, encoding: .utf8) } catch {
            throw SettingsError("\(iniPath): cannot read config file (\(error.localizedDescription))")
        }
        ini = try SettingsSource.parseINI(text, path: iniPath, knownKeys: knownKeys)
    }

    /// `key = value` lines; `#`/`;` comments and `[section]` headers are ignored (llama-server's
    /// model_config.ini groups by model; hotmoe serves one model).
    static func parseINI(_ text: String, path: String, knownKeys: Set<String>?) throws -> [String: String] {
        var out = [String: String]()
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") || line.hasPrefix("[") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw SettingsError("\(path):\(number + 1): expected 'key = value', got '\(line)'")
            }
            var key = line[..<eq].trimmingCharacters(in: .whitespaces)
            if key.hasPrefix("--") { key.removeFirst(2) }
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            if let knownKeys, !knownKeys.contains(key) {
                throw SettingsError("\(path):\(number + 1): unknown setting '\(key)'")
            }
            out[key] = value
        }
        return out
    }

    /// The first of the environment variables that is set, else the INI key.
    public func value(_ key: String, env names: [String]) -> String? {
        for n in names { if let v = environment[n], !v.isEmpty { return v } }
        return ini[key]
    }

    public func int(_ key: String, env: [String]) throws -> Int? {
        guard let v = value(key, env: env) else { return nil }
        guard let i = Int(v) else { throw SettingsError("\(key): '\(v)' is not an integer") }
        return i
    }

    public func double(_ key: String, env: [String]) throws -> Double? {
        guard let v = value(key, env: env) else { return nil }
        guard let d = Double(v), d.isFinite else { throw SettingsError("\(key): '\(v)' is not a number") }
        return d
    }

    public func bool(_ key: String, env: [String]) throws -> Bool? {
        guard let v = value(key, env: env) else { return nil }
        switch v.lowercased() {
        case "1", "true", "on", "yes", "enabled": return true
        case "0", "false", "off", "no", "disabled": return false
        default: throw SettingsError("\(key): '\(v)' is not a boolean (true/false, on/off, 1/0)")
        }
    }
}

public struct SettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ d: String) { description = d }
}
