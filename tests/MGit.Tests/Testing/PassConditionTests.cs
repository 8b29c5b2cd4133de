using System.Text.Json;
using MGit.Errors;
using MGit.Testing;

namespace MGit.Tests.Testing;

public sealed class PassConditionTests
{
    private static IReadOnlyDictionary<string, JsonElement> Metrics(string json) => TestRegistry.ParseMetrics(json);

    [Theory]
    [InlineData("accuracy >= 0.9", true)]
    [InlineData("accuracy > 0.93", false)]
    [InlineData("accuracy >= 0.9 and flag == 0", true)]
    [InlineData("accuracy >= 0.95 or flag == 0", true)]
    [InlineData("accuracy >= 0.95 or flag != 0", false)]
    [InlineData("not (flag == 1) and label == \"ok\"", true)]
    [InlineData("label != 'ok'", false)]
    [InlineData("converged == true", true)]
    [InlineData("loss < 1e-2 and loss > -1", true)]
    [InlineData("exit_code == 0", true)]
    [InlineData("(accuracy >= 0.99 or loss <= 0.005) and not converged == false", true)]
    public void Conditions_evaluate_over_reported_metrics(string condition, bool expected)
    {
        var metrics = Metrics("{\"accuracy\": 0.93, \"flag\": 0, \"label\": \"ok\", \"converged\": true, \"loss\": 0.004}");
        Assert.Equal(expected, PassCondition.Parse(condition).Evaluate(metrics, exitCode: 0).Passed);
    }

    [Fact]
    public void A_missing_metric_fails_and_says_so()
    {
        var (passed, reason) = PassCondition.Parse("accuracy >= 0.9").Evaluate(Metrics("{\"loss\": 1}"), 0);
        Assert.False(passed);
        Assert.Equal("metric 'accuracy' was not reported", reason);
    }

    [Fact]
    public void A_failed_comparison_names_the_value()
    {
        var (passed, reason) = PassCondition.Parse("accuracy >= 0.9 and loss < 1").Evaluate(Metrics("{\"accuracy\": 0.5, \"loss\": 0}"), 0);
        Assert.False(passed);
        Assert.Equal("accuracy = 0.5, not >= 0.9", reason);
    }

    [Theory]
    [InlineData("accuracy >")]
    [InlineData(">= 0.9")]
    [InlineData("accuracy => 0.9")]
    [InlineData("accuracy >= 0.9 and")]
    [InlineData("accuracy >= 0.9)")]
    [InlineData("(accuracy >= 0.9")]
    [InlineData("label > 'x'")]
    [InlineData("accuracy >= high")]
    [InlineData("accuracy ~ 1")]
    public void Malformed_conditions_are_refused(string condition)
    {
        var error = Assert.Throws<MGitException>(() => PassCondition.Parse(condition));
        Assert.StartsWith("--pass", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[1, 2]")]
    [InlineData("{\"a\": ")]
    public void Output_that_is_not_a_json_object_reports_no_metrics(string line) => Assert.Empty(Metrics(line));
}
