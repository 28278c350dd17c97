import ArgumentParser
import Foundation
import Logging

@main
struct HotMoE: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hotmoe",
        abstract: "MoE inference that keeps a workload's hot experts in fast memory.",
        subcommands: [RunCommand.self, ServeCommand.self, InspectCommand.self, PerplexityCommand.self, BenchCommand.self, TraceCommand.self, AnalyzeCommand.self, GenerateModelCommand.self,
                      ProfileWriterCommand.self, GPUCheckCommand.self],
        defaultSubcommand: RunCommand.self)

    /// llama-server command lines work on `hotmoe serve`: its flags are mapped first
    /// (LlamaServerFlags), then parsed as usual.
    static func main() async {
        var args = Array(CommandLine.arguments.dropFirst())
        // llama-server's --list-devices prints the devices and exits, whatever else is given.
        if args.contains("--list-devices") {
            print(GPUProbe.listing())
            Foundation.exit(0)
        }
        if args.first == "serve" {
            Log.setup(verbose: false)
            do {
                args = ["serve"] + (try LlamaServerFlags.rewrite(Array(args.dropFirst())) { Log.main.notice("\($0)") })
            } catch {
                Log.main.error("\(error)")
                Foundation.exit(1)
            }
        }
        do {
            var command = try parseAsRoot(args)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Logging to stderr so generated text on stdout stays clean.
enum Log {
    nonisolated(unsafe) static var bootstrapped = false
    static func setup(verbose: Bool) {
        guard !bootstrapped else { return }
        bootstrapped = true
        PeakRSSReport.installIfRequested()
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = verbose ? .debug : .info
            return h
        }
    }

    static let main = Logger(label: "hotmoe")
}

/// A user-facing failure: printed as one clear line, exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Streams generated text as it comes (stdout is block-buffered when piped).
func flushStdout() {
    fflush(nil)
}
