using MGit.Errors;
using MGit.Execution;

namespace MGit.Tests.Testing;

public sealed class CommandTemplateTests
{
    private static readonly Func<string, string?> AnyPlaceholder = _ => null;

    private static IReadOnlyList<string> Expand(string template, Dictionary<string, string[]> values) =>
        CommandTemplate.Parse(template, "cmd", AnyPlaceholder).Expand(name => values[name]);

    [Fact]
    public void Words_split_like_a_shell_and_placeholders_fill_single_arguments()
    {
        var values = new Dictionary<string, string[]> { ["model"] = ["/m dir/a; rm -rf ~ $(touch x)"], ["ref"] = ["a b@1"] };
        Assert.Equal(
            ["python3", "eval.py", "--model=/m dir/a; rm -rf ~ $(touch x)", "/m dir/a; rm -rf ~ $(touch x)", "ref is a b@1", "lit $HOME"],
            Expand("python3  eval.py --model={model} '{model}' \"ref is {ref}\" 'lit $HOME'", values));
    }

    [Fact]
    public void Quotes_and_escapes_follow_posix_rules()
    {
        Assert.Equal(["a b", "c\"d", "e\\f", "g'h", "", "x y"], Expand("'a b' \"c\\\"d\" 'e\\f' \"g'h\" '' x\\ y", []));
    }

    [Fact]
    public void Doubled_braces_are_literal()
    {
        Assert.Equal(["echo", "{\"acc\": 1}"], Expand("echo '{{\"acc\": 1}}'", []));
    }

    [Fact]
    public void A_many_valued_placeholder_becomes_one_argument_per_value_and_must_stand_alone()
    {
        var values = new Dictionary<string, string[]> { ["parents"] = ["/p/a", "/p/b c"] };
        Assert.Equal(["merge", "/p/a", "/p/b c", "out"], Expand("merge {parents} out", values));
        var error = Assert.Throws<MGitException>(() => Expand("merge --in={parents}", values));
        Assert.Contains("whole argument", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("  ", "is empty")]
    [InlineData("echo 'open", "unclosed ' quote")]
    [InlineData("echo \"open", "unclosed \" quote")]
    [InlineData("echo {model", "unclosed '{'")]
    [InlineData("echo model}", "without '{'")]
    [InlineData("echo \\", "lone backslash")]
    [InlineData("echo {unknown}", "unknown placeholder {unknown}")]
    public void Malformed_templates_are_refused_with_a_reason(string template, string expected)
    {
        var error = Assert.Throws<MGitException>(() => CommandTemplate.Parse(template, "cmd", name => name == "model" ? null : $"unknown placeholder {{{name}}}"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
