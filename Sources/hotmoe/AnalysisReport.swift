import ExpertCache
import Foundation

/// Text, SVG and HTML renderings of a TraceAnalysis (self-written SVG: no dependencies).
enum AnalysisReport {
    static func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }

    static func text(_ a: TraceAnalysis, header: TraceHeader) -> String {
        var s = ["trace: \(header.modelName): \(a.sequences) sequences, \(a.tokens) tokens, \(a.layers.count) MoE layers, top-\(a.topK) of \(a.expertsPerLayer) experts", ""]
        s.append("utilisation per layer (gini, normalised entropy, share of hits in top 10% / 30% of experts):")
        for u in a.utilisation {
            s.append(String(format: "  layer %3d  gini %.3f  entropy %.3f  top10 %@  top30 %@", u.layer, u.gini, u.normalizedEntropy, pct(u.top10Share), pct(u.top30Share)))
        }
        s.append("")
        s.append("local routing consistency (layer level; SCH free-fill):")
        for c in a.consistency {
            s.append(String(format: "  m=%-4d SRP %.3f (rho %.2f)  SCH rho=1 %.3f  rho=2 %.3f  rho=4 %.3f", c.m, c.srp, c.srpRho,
                            c.sch["rho=1"] ?? 0, c.sch["rho=2"] ?? 0, c.sch["rho=4"] ?? 0))
        }
        s.append("")
        s.append("hit rate vs cache size per layer (experts): " + a.capacities.map(String.init).joined(separator: " / "))
        for c in a.curves + [a.staticProfile] {
            s.append("  " + c.policy.padding(toLength: 20, withPad: " ", startingAt: 0) + c.hitRates.map { pct($0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        }
        s.append("  " + "uniform".padding(toLength: 20, withPad: " ", startingAt: 0) + a.uniformExpectation.map { pct($0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        for c in a.lookaheadCurves {
            s.append("  " + c.policy.padding(toLength: 20, withPad: " ", startingAt: 0) + c.hitRates.map { pct($0).padding(toLength: 8, withPad: " ", startingAt: 0) }.joined())
        }
        s.append("  (static profile learned on \(a.trainSequences) of \(a.sequences) sequences, measured on the rest)")
        if let p = a.lookaheadPrecision, let name = a.lookaheadCurves.first?.policy {
            s.append(String(format: "  (+lookahead: the selections also served by read-ahead of layer L+1's router on layer L's input; guesses name %@ of the selections; %@ wastes ", pct(p), name)
                     + a.lookaheadWastedPerToken.map { String(format: "%.1f", $0) }.joined(separator: " / ") + " reads per token over all layers)")
        }
        s.append("")
        s.append("verdict: " + a.verdict)
        return s.joined(separator: "\n")
    }

    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#111111", "#8c564b", "#7f7f7f", "#17becf", "#bcbd22"]

    static func svgs(_ a: TraceAnalysis) -> [(String, String)] {
        [("hit-rate-curves", curves(a)), ("expert-heatmap", heatmap(a)), ("consistency-per-layer", consistencyBars(a))]
    }

    static func curves(_ a: TraceAnalysis) -> String {
        let w = 680.0, h = 400.0, left = 60.0, bottom = 50.0, top = 30.0, right = 190.0
        let maxC = Double(a.capacities.last ?? 1)
        func x(_ c: Int) -> Double { left + Double(c) / maxC * (w - left - right) }
        func y(_ r: Double) -> Double { h - bottom - r * (h - bottom - top) }
        var s = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(w))' height='\(Int(h))' font-family='sans-serif' font-size='12'>"
        s += "<rect width='100%' height='100%' fill='white'/><text x='\(left)' y='18' font-size='14'>Hit rate vs cache size per layer</text>"
        for i in 0...5 {
            let r = Double(i) / 5
            s += "<line x1='\(left)' x2='\(w - right)' y1='\(y(r))' y2='\(y(r))' stroke='#ddd'/><text x='\(left - 40)' y='\(y(r) + 4)'>\(Int(r * 100))%</text>"
        }
        for c in a.capacities { s += "<text x='\(x(c) - 6)' y='\(h - bottom + 18)'>\(c)</text>" }
        s += "<text x='\(left + 100)' y='\(h - 12)'>experts cached per layer (top-k = \(a.topK))</text>"
        s += "<text x='14' y='\(top + (h - bottom - top) / 2)' transform='rotate(-90 14 \(top + (h - bottom - top) / 2))' text-anchor='middle'>hit rate</text>"
        let series = a.curves + a.lookaheadCurves + [a.staticProfile, TraceAnalysis.Curve(policy: "uniform", hitRates: a.uniformExpectation)]
        for (i, c) in series.enumerated() {
            let color = colors[i % colors.count]
            let pts = zip(a.capacities, c.hitRates).map { "\(x($0)),\(y($1))" }.joined(separator: " ")
            let dash = c.policy == "uniform" ? " stroke-dasharray='4 3'" : (c.policy == "belady" ? " stroke-dasharray='8 3'" : "")
            s += "<polyline points='\(pts)' fill='none' stroke='\(color)' stroke-width='2'\(dash)/>"
            // Legend entry with a line swatch, so the dashed bounds read as such.
            let ly = top + 16 * Double(i) + 6
            s += "<line x1='\(w - right + 10)' x2='\(w - right + 34)' y1='\(ly)' y2='\(ly)' stroke='\(color)' stroke-width='2'\(dash)/>"
            s += "<text x='\(w - right + 40)' y='\(ly + 4)' fill='\(color)'>\(c.policy)</text>"
        }
        return s + "</svg>"
    }

    static func heatmap(_ a: TraceAnalysis) -> String {
        let cell = max(3.0, min(14.0, 600.0 / Double(a.expertsPerLayer))), rowH = max(6.0, min(18.0, 360.0 / Double(a.utilisation.count)))
        let left = 60.0, top = 30.0
        let w = left + cell * Double(a.expertsPerLayer) + 20, h = top + rowH * Double(a.utilisation.count) + 30
        var s = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(w))' height='\(Int(h))' font-family='sans-serif' font-size='11'>"
        s += "<rect width='100%' height='100%' fill='white'/><text x='\(left)' y='18' font-size='14'>Expert selections per layer (share of the layer's hits)</text>"
        for (r, u) in a.utilisation.enumerated() {
            let total = Double(max(1, u.counts.reduce(0, +))), peak = Double(u.counts.max() ?? 1) / total
            s += "<text x='4' y='\(top + rowH * Double(r) + rowH * 0.75)'>L\(u.layer)</text>"
            for (e, c) in u.counts.enumerated() {
                let v = peak > 0 ? (Double(c) / total) / peak : 0
                let shade = Int(255 - v * 230)
                s += "<rect x='\(left + cell * Double(e))' y='\(top + rowH * Double(r))' width='\(cell)' height='\(rowH)' fill='rgb(\(shade),\(shade),255)'><title>layer \(u.layer) expert \(e): \(c)</title></rect>"
            }
        }
        s += "<text x='\(left)' y='\(h - 8)'>expert id 0 … \(a.expertsPerLayer - 1) (darker = selected more)</text>"
        return s + "</svg>"
    }

    static func consistencyBars(_ a: TraceAnalysis) -> String {
        guard let c = a.consistency.first(where: { $0.m == 16 }) ?? a.consistency.first else { return "<svg xmlns='http://www.w3.org/2000/svg'/>" }
        let n = c.srpPerLayer.count, bw = max(6.0, min(24.0, 560.0 / Double(max(1, n)) / 2.2))
        let left = 50.0, top = 30.0, ph = 220.0, w = left + Double(n) * bw * 2.4 + 120, h = top + ph + 40
        var s = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(w))' height='\(Int(h))' font-family='sans-serif' font-size='11'>"
        s += "<rect width='100%' height='100%' fill='white'/><text x='\(left)' y='18' font-size='14'>SRP(m=\(c.m)) and SCH(m=\(c.m), rho=2) per layer</text>"
        for i in 0...4 { let yy = top + ph - Double(i) / 4 * ph; s += "<line x1='\(left)' x2='\(w - 110)' y1='\(yy)' y2='\(yy)' stroke='#ddd'/><text x='10' y='\(yy + 4)'>\(Double(i) / 4)</text>" }
        for l in 0..<n {
            let x0 = left + Double(l) * bw * 2.4
            let srp = c.srpPerLayer[l], sch = l < c.schPerLayerRho2.count ? c.schPerLayerRho2[l] : 0
            s += "<rect x='\(x0)' y='\(top + ph - srp * ph)' width='\(bw)' height='\(srp * ph)' fill='\(colors[0])'><title>layer \(a.layers[l]) SRP \(srp)</title></rect>"
            s += "<rect x='\(x0 + bw)' y='\(top + ph - sch * ph)' width='\(bw)' height='\(sch * ph)' fill='\(colors[1])'><title>layer \(a.layers[l]) SCH \(sch)</title></rect>"
            if n <= 24 || l % 4 == 0 { s += "<text x='\(x0)' y='\(top + ph + 14)'>\(a.layers[l])</text>" }
        }
        s += "<text x='\(left)' y='\(h - 6)'>MoE layer</text>"
        s += "<text x='\(w - 100)' y='\(top + 10)' fill='\(colors[0])'>SRP</text><text x='\(w - 100)' y='\(top + 26)' fill='\(colors[1])'>SCH rho=2</text>"
        return s + "</svg>"
    }

    static func html(_ a: TraceAnalysis, header: TraceHeader, plots: [(String, String)]) -> String {
        let escaped = text(a, header: header).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<!doctype html><html><head><meta charset='utf-8'><title>hotmoe analyze: \(header.modelName)</title>"
            + "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto} pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>"
            + "<h1>Routing analysis</h1><pre>\(escaped)</pre>" + plots.map { "<h2>\($0.0)</h2>\($0.1)" }.joined() + "</body></html>"
    }
}
