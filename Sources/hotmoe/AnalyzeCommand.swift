import ArgumentParser
import ExpertCache
import Foundation

/// Does this model and workload suit expert offloading? Utilisation, SRP/SCH, hit rate vs cache
/// size for every online policy, Belady's bound and a profile learned on a held-out split.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze", abstract: "Analyse a routing trace: utilisation, SRP/SCH, policy hit rates, verdict.")

    @Argument(help: "Trace file from hotmoe trace.") var trace: String
    @Option(name: .customLong("json"), help: "Write the analysis as JSON.") var json: String?
    @Option(name: .customLong("html"), help: "Write one self-contained HTML report with the plots.") var html: String?
    @Option(name: .customLong("svg-dir"), help: "Write the plots as SVG files into this folder.") var svgDir: String?
    @Option(name: .customLong("budget-experts"), help: "Cache size per layer for the verdict (default 2x top-k).") var budgetExperts: Int?
    @Option(name: .customLong("capacities"), help: "Cache sizes as multiples of top-k, comma separated.") var capacities = "1,2,3,4,6,8"

    func run() throws {
        Log.setup(verbose: false)
        do {
            let (header, sequences) = try TraceReader.read(path: trace)
            guard sequences.contains(where: { $0.routing.tokenCount > 0 }) else { throw CLIError("\(trace): the trace has no tokens") }
            let multiples = try capacities.split(separator: ",").map { s -> Int in
                guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= 1 else { throw CLIError("--capacities: '\(s)' is not a positive integer") }
                return v
            }
            if let b = budgetExperts, b < 1 || b > header.expertsPerLayer {
                throw CLIError("--budget-experts must be in 1...\(header.expertsPerLayer)")
            }
            Log.main.info("analysing \(sequences.count) sequences of \(header.modelName)")
            let a = TraceAnalysis.analyze(sequences.map(\.routing), capacityMultiples: multiples, budgetExperts: budgetExperts)
            print(AnalysisReport.text(a, header: header))
            let plots = AnalysisReport.svgs(a)
            if let json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(a).write(to: URL(fileURLWithPath: json), options: .atomic)
            }
            if let svgDir {
                try FileManager.default.createDirectory(atPath: svgDir, withIntermediateDirectories: true)
                for (name, svg) in plots { try svg.write(toFile: svgDir + "/" + name + ".svg", atomically: true, encoding: .utf8) }
            }
            if let html {
                try AnalysisReport.html(a, header: header, plots: plots).write(toFile: html, atomically: true, encoding: .utf8)
            }
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }
}
