using Conductor.Core.Jobs;
using Conductor.Core.Scheduling;
using Conductor.Core.Signals;
using Conductor.Core.Storage;
using Microsoft.Extensions.Options;

namespace Conductor.Server.Scheduling;

/// <summary>
/// What a pass does with the dependency gate's verdicts besides gating: a dependency met for good is forgotten
/// (Slurm then shows <c>(null)</c>), and with <see cref="SchedulerOptions.KillOnInvalidDependency"/> (or the job's own
/// <c>--kill-on-invalid-dep=yes</c>, which <c>=no</c> overrides the other way) a job whose dependency can never be met
/// is cancelled, with an event that says why.
/// </summary>
public sealed class DependencyUpkeep(
    ISchedulerStore scheduler,
    IJobStore jobs,
    IWakeBus bus,
    TimeProvider time,
    IOptions<SchedulerOptions> options,
    ILogger<DependencyUpkeep> logger)
{
    public const string KillDetail = "cancelled by the scheduler: its dependency can never be satisfied (kill-on-invalid-dep)";

    public async Task ApplyAsync(IReadOnlyList<DependencyVerdict> verdicts, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(verdicts);
        if (verdicts.Count == 0)
        {
            return;
        }

        var met = verdicts.Where(v => v.Drop).Select(v => v.Id).ToList();
        if (met.Count > 0)
        {
            await scheduler.DropDependenciesAsync(met, ct);
        }

        var cancelled = 0;
        foreach (var verdict in verdicts.Where(v => v.State == DependencyState.Failed && (v.KillOnInvalid ?? options.Value.KillOnInvalidDependency)))
        {
            var result = await jobs.CancelAsync(verdict.Id, time.GetUtcNow(), KillDetail, ct);
            if (result.Outcome == CancelOutcome.Cancelled)
            {
                logger.LogInformation("Job {JobId} cancelled: its dependency can never be satisfied", verdict.Id);
                cancelled++;
            }
        }

        if (cancelled > 0)
        {
            // Jobs that depend on the cancelled ones are judged again.
            bus.Publish(WakeTopic.Scheduler);
        }
    }
}
