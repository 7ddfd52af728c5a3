using Conductor.Agent.Processes;

namespace Conductor.Agent.Tests;

/// <summary>The one watcher of every job leader's exit: it learns of each exit and leaves the status to be reaped.</summary>
public sealed class ExitWatcherTests
{
    [Fact]
    public async Task WaitForLeaderExitAsync_EndsForEachChild_AndLeavesItsStatusToReap()
    {
        Assert.NotNull(ExitWatcher.Shared);
        var launcher = new PosixProcessLauncher();
        var dir = Directory.CreateTempSubdirectory("conductor-exit-").FullName;
        try
        {
            // Several children at once, ending in another order than they started.
            var children = Enumerable.Range(0, 6).Select(i => launcher.Launch(new LaunchRequest(
                "/bin/sh", ["sh", "-c", $"sleep 0.{6 - i}; exit {i + 1}"], new Dictionary<string, string>(), dir, Path.Combine(dir, $"{i}.out"), null)))
                .ToList();

            var exits = children.Select(launcher.WaitForLeaderExitAsync).ToList();
            await Task.WhenAll(exits).WaitAsync(TimeSpan.FromSeconds(30));

            for (var i = 0; i < children.Count; i++)
            {
                // Exited but not reaped: a zombie until Reap, which still gets the exit status.
                Assert.True(ProcStat.Read(children[i].Pid) is { IsZombie: true });
                var exit = launcher.Reap(children[i]);
                Assert.Equal(i + 1, (exit.WaitStatus!.Value >> 8) & 0xff);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
