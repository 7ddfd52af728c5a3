using Conductor.Bench;

var usage = """
    conductor-bench throughput|latency|backlog [options]

      throughput  --jobs N [1000] --cpus C [nproc] --submitters S [4]
      latency     --jobs N [100] --cpus C [nproc]
      backlog     --sizes 1000,10000,100000 --cpus C [2] --submitters S [4] --gets G [1000]

      every command: --cli PATH  the built CLI [<repo>/artifacts/cli/conductor.dll]
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    var options = new Options(args.Skip(1));
    var cli = Machine.FindCli(options.String("cli"));
    Console.WriteLine(Machine.Describe());
    var code = args[0] switch
    {
        "throughput" => await ThroughputBench.RunAsync(cli, options),
        "latency" => await LatencyBench.RunAsync(cli, options),
        "backlog" => await BacklogBench.RunAsync(cli, options),
        _ => throw new ArgumentException($"unknown benchmark '{args[0]}'"),
    };
    return code;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"conductor-bench: {e.Message}\n\n{usage}");
    return 2;
}
