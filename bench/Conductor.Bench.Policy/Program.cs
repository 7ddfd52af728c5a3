using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Running;
using Conductor.Bench.Policy;
using Conductor.Core.Scheduling;

// "quick": a Stopwatch harness (warm-up, then timed passes; median and p95) over the same grid, in seconds
// rather than BenchmarkDotNet's minutes. Anything else goes to BenchmarkDotNet (e.g. --filter '*').
if (args.Length > 0 && args[0] == "quick")
{
    var iterations = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
    Quick(iterations);
    Breakdown.Run(100_000, 100, iterations);
    return 0;
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
var pairs = summaries
    .SelectMany(s => s.Reports)
    .Where(r => r.ResultStatistics is not null)
    .Select(r =>
    {
        var p = r.BenchmarkCase.Parameters;
        return string.Create(CultureInfo.InvariantCulture,
            $"plan_ms_{p["Pending"]}_{p["Nodes"]}_{p["Occupancy"]}{((bool)p["Gres"] ? "_gres" : "")}={r.ResultStatistics!.Median / 1e6:F3}");
    })
    .ToList();
Console.WriteLine("RESULT bench=policy tool=benchmarkdotnet " + string.Join(' ', pairs));
return 0;

static void Quick(int iterations)
{
    var policy = new BackfillPolicy();
    var now = new DateTimeOffset(2026, 1, 1, 1, 0, 0, TimeSpan.Zero);
    var result = new List<string>();
    Console.WriteLine($"# policy pass, Stopwatch harness: {iterations} timed passes after 3 warm-up passes; ms");
    // On a shared machine the wall clock mostly measures the wait for a core; the process's CPU time per pass does not.
    Console.WriteLine("# cpu = the process's CPU time per pass (median), which waiting for a busy core does not inflate");
    Console.WriteLine($"{"pending",8} {"nodes",6} {"occupancy",9} {"gres",5} {"median",9} {"p95",9} {"cpu",9} {"starts",7}");
    foreach (var (occupancy, gres) in new[] { (Occupancy.Full, false), (Occupancy.Fits, false), (Occupancy.Full, true), (Occupancy.Fits, true) })
    {
        foreach (var pending in new[] { 1_000, 10_000, 100_000 })
        {
            foreach (var nodes in new[] { 1, 10, 100 })
            {
                var snapshot = Snapshots.Create(pending, nodes, occupancy, gres);
                var starts = 0;
                for (var i = 0; i < 3; i++)
                {
                    starts = policy.Plan(snapshot, now).Starts.Count;
                }

                var times = new double[iterations];
                var cpu = new double[iterations];
                var process = Process.GetCurrentProcess();
                for (var i = 0; i < iterations; i++)
                {
                    process.Refresh();
                    var c = process.TotalProcessorTime;
                    var t = Stopwatch.GetTimestamp();
                    policy.Plan(snapshot, now);
                    times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    process.Refresh();
                    cpu[i] = (process.TotalProcessorTime - c).TotalMilliseconds;
                }

                Array.Sort(times);
                Array.Sort(cpu);
                var cpuMedian = cpu[(cpu.Length - 1) / 2];
                var median = times[(times.Length - 1) / 2];
                var p95 = times[Math.Clamp((int)Math.Ceiling(0.95 * times.Length) - 1, 0, times.Length - 1)];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{pending,8} {nodes,6} {occupancy,9} {(gres ? "yes" : "no"),5} {median,9:F3} {p95,9:F3} {cpuMedian,9:F1} {starts,7}"));
                result.Add(string.Create(CultureInfo.InvariantCulture, $"plan_ms_{pending}_{nodes}_{occupancy}{(gres ? "_gres" : "")}={median:F3}"));
            }
        }
    }

    Console.WriteLine("RESULT bench=policy tool=stopwatch " + string.Join(' ', result));
}
