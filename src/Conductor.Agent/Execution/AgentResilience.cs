using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Conductor.Agent.Execution;

/// <summary>
/// The agent's retry policies (Polly): retryable infrastructure errors are tried again with exponential back-off
/// and jitter; everything else fails at once. A job's own exit is never retried here.
/// </summary>
public sealed class AgentResilience
{
    public AgentResilience(TimeProvider time, ILogger<AgentResilience> logger)
    {
        Store = Build(time, logger, "store call", attempts: 6, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));
        Launch = Build(time, logger, "launch", attempts: 3, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1));
    }

    /// <summary>For reads and writes of the store.</summary>
    public ResiliencePipeline Store { get; }

    /// <summary>For starting a job's process (EAGAIN, ENOMEM, ETXTBSY...).</summary>
    public ResiliencePipeline Launch { get; }

    private static ResiliencePipeline Build(TimeProvider time, ILogger logger, string what, int attempts, TimeSpan delay, TimeSpan maxDelay) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ExecutionErrors.IsRetryable),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                MaxRetryAttempts = attempts,
                Delay = delay,
                MaxDelay = maxDelay,
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "The {What} failed (attempt {Attempt}); retrying in {Delay}",
                        what, args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
}
