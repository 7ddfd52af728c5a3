using Conductor.Core.Jobs;

namespace Conductor.Core.Tests;

public sealed class JobStatesTests
{
    private static readonly HashSet<(JobState From, JobState To)> Allowed =
    [
        (JobState.Pending, JobState.Running),
        (JobState.Pending, JobState.Cancelled),
        (JobState.Running, JobState.Pending),
        (JobState.Running, JobState.Completed),
        (JobState.Running, JobState.Failed),
        (JobState.Running, JobState.Timeout),
        (JobState.Running, JobState.OutOfMemory),
        (JobState.Running, JobState.Cancelled),
        (JobState.Running, JobState.NodeFail),
    ];

    public static TheoryData<JobState, JobState> AllPairs()
    {
        var data = new TheoryData<JobState, JobState>();
        foreach (var from in Enum.GetValues<JobState>())
        {
            foreach (var to in Enum.GetValues<JobState>())
            {
                data.Add(from, to);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void CanTransition_MatchesAllowedTable_WhenGivenAnyPair(JobState from, JobState to)
    {
        Assert.Equal(Allowed.Contains((from, to)), JobStates.CanTransition(from, to));
    }

    [Fact]
    public void CanTransition_NeverLeavesTerminalState_WhenFromIsTerminal()
    {
        foreach (var from in JobStates.All.Where(s => s.IsTerminal()))
        {
            Assert.All(JobStates.All, to => Assert.False(JobStates.CanTransition(from, to)));
        }
    }

    [Theory]
    [InlineData(JobState.Pending, false)]
    [InlineData(JobState.Running, false)]
    [InlineData(JobState.Completed, true)]
    [InlineData(JobState.Failed, true)]
    [InlineData(JobState.Timeout, true)]
    [InlineData(JobState.OutOfMemory, true)]
    [InlineData(JobState.Cancelled, true)]
    [InlineData(JobState.NodeFail, true)]
    public void IsTerminal_ReturnsExpected_WhenGivenState(JobState state, bool expected)
    {
        Assert.Equal(expected, state.IsTerminal());
    }

    [Theory]
    [InlineData(JobState.Pending, "PENDING", "PD")]
    [InlineData(JobState.Running, "RUNNING", "R")]
    [InlineData(JobState.Completed, "COMPLETED", "CD")]
    [InlineData(JobState.Failed, "FAILED", "F")]
    [InlineData(JobState.Timeout, "TIMEOUT", "TO")]
    [InlineData(JobState.OutOfMemory, "OUT_OF_MEMORY", "OOM")]
    [InlineData(JobState.Cancelled, "CANCELLED", "CA")]
    [InlineData(JobState.NodeFail, "NODE_FAIL", "NF")]
    public void ToSlurmNameAndCompactCode_ReturnSlurmSpelling_WhenGivenState(JobState state, string name, string code)
    {
        Assert.Equal(name, state.ToSlurmName());
        Assert.Equal(code, state.ToCompactCode());
    }

    [Fact]
    public void All_ListsEveryState_WhenRead()
    {
        Assert.Equal(Enum.GetValues<JobState>(), JobStates.All);
    }

    [Fact]
    public void TryParse_RoundTripsSlurmName_WhenGivenEveryState()
    {
        foreach (var state in JobStates.All)
        {
            Assert.True(JobStates.TryParse(state.ToSlurmName(), out var parsed));
            Assert.Equal(state, parsed);
        }
    }

    [Theory]
    [InlineData("pending", JobState.Pending)]
    [InlineData(" Out_Of_Memory ", JobState.OutOfMemory)]
    public void TryParse_IgnoresCaseAndSpaces_WhenNameIsKnown(string text, JobState expected)
    {
        Assert.True(JobStates.TryParse(text, out var state));
        Assert.Equal(expected, state);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("PD")]
    [InlineData("OutOfMemory")]
    [InlineData("DONE")]
    public void TryParse_Fails_WhenNameIsUnknown(string? text)
    {
        Assert.False(JobStates.TryParse(text, out _));
    }

    [Fact]
    public void ToSlurmName_Throws_WhenStateIsUndefined()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ((JobState)99).ToSlurmName());
        Assert.Throws<ArgumentOutOfRangeException>(() => ((JobState)99).ToCompactCode());
    }
}
