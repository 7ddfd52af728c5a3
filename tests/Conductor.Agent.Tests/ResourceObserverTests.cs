using Conductor.Agent.Execution;
using Conductor.Agent.Hosting;
using Conductor.Agent.Resources;
using Conductor.Core.Jobs;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Conductor.Agent.Tests;

public sealed class ResourceObserverTests
{
    private static readonly IOptions<AgentOptions> Options = Microsoft.Extensions.Options.Options.Create(
        new AgentOptions { NodeName = "n1", Cpus = 4, ScriptsDirectory = "/tmp/s", UtilizationAlertThreshold = 0.9 });

    [Fact]
    public void Tracker_FansOutToEveryObserver_AndAFailingOneBreaksNothing()
    {
        var recorder = new Recorder();
        var alert = new UtilizationAlertObserver(Options, NullLogger<UtilizationAlertObserver>.Instance);
        var tracker = new ResourceTracker([new Throwing(), recorder, alert], Options, NullLogger<ResourceTracker>.Instance);

        tracker.Allocate(new JobId(1), 2);
        tracker.Allocate(new JobId(2), 1);
        tracker.Allocate(new JobId(2), 1);
        Assert.Equal(0, alert.Alerts);
        tracker.Allocate(new JobId(3), 1);
        Assert.Equal(1, alert.Alerts);
        tracker.Allocate(new JobId(4), 0);
        Assert.Equal(1, alert.Alerts);
        tracker.Release(new JobId(1));
        tracker.Release(new JobId(1));
        tracker.Allocate(new JobId(5), 2);

        Assert.Equal(2, alert.Alerts);
        Assert.Equal(["+1:2/4", "+2:3/4", "+3:4/4", "+4:4/4", "-1:2/4", "+5:4/4"], recorder.Log);
        Assert.Equal(4, tracker.AllocatedCpus);
    }

    [Fact]
    public void Classify_TellsRetryableInfrastructureErrorsFromTheRest()
    {
        Assert.True(ExecutionErrors.IsRetryable(new TimeoutException("slow")));
        Assert.True(ExecutionErrors.IsRetryable(new Processes.ProcessLaunchException("could not start /bin/sh: Resource temporarily unavailable")));
        Assert.False(ExecutionErrors.IsRetryable(new Processes.ProcessLaunchException("could not start /bin/sh: No such file or directory")));
        Assert.False(ExecutionErrors.IsRetryable(ExecutionErrors.JobNotFound("gone")));
        Assert.True(ExecutionErrors.IsRetryable(ExecutionErrors.LostNode("no heartbeat")));
        Assert.False(ExecutionErrors.IsRetryable(new InvalidOperationException("bug")));
        Assert.False(ExecutionErrors.IsRetryable(new OperationCanceledException()));
        Assert.Equal(ExecutionErrorKind.TransientStore, ExecutionErrors.Classify(new IOException("disk")).Kind);
    }

    private sealed class Recorder : IResourceObserver
    {
        public List<string> Log { get; } = [];

        public void OnAllocated(ResourceChange change) => Log.Add($"+{change.JobId}:{change.AllocatedCpus}/{change.TotalCpus}");

        public void OnReleased(ResourceChange change) => Log.Add($"-{change.JobId}:{change.AllocatedCpus}/{change.TotalCpus}");
    }

    private sealed class Throwing : IResourceObserver
    {
        public void OnAllocated(ResourceChange change) => throw new InvalidOperationException("observer bug");

        public void OnReleased(ResourceChange change) => throw new InvalidOperationException("observer bug");
    }
}
