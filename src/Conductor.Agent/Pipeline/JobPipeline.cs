using Conductor.Agent.Execution;

namespace Conductor.Agent.Pipeline;

/// <summary>The rest of the pipeline, as a step sees it.</summary>
public delegate Task JobExecutionDelegate(JobExecutionContext context);

/// <summary>
/// A step around the running of every job, like ASP.NET Core middleware: work before <c>await next(context)</c>,
/// after it, and in a catch around it. Steps are registered in DI (<c>services.AddJobExecutionStep&lt;T&gt;()</c>)
/// and run in registration order; the executor knows nothing of them.
/// </summary>
public interface IJobExecutionStep
{
    Task InvokeAsync(JobExecutionContext context, JobExecutionDelegate next);
}

/// <summary>Composes the registered steps around the executor's own work.</summary>
public sealed class JobPipeline(IEnumerable<IJobExecutionStep> steps)
{
    private readonly IJobExecutionStep[] _steps = steps.ToArray();

    public IReadOnlyList<IJobExecutionStep> Steps => _steps;

    public JobExecutionDelegate Build(JobExecutionDelegate terminal)
    {
        var next = terminal;
        for (var i = _steps.Length - 1; i >= 0; i--)
        {
            var step = _steps[i];
            var inner = next;
            next = context => step.InvokeAsync(context, inner);
        }

        return next;
    }
}
