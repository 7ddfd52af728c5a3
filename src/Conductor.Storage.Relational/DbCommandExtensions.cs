using System.Data;
using System.Data.Common;

namespace Conductor.Storage.Relational;

/// <summary>Typed parameters for any ADO.NET command: a null is sent as a NULL of the column's type.</summary>
public static class DbCommandExtensions
{
    public static DbCommand With(this DbCommand command, string name, string? value) => command.With(name, DbType.String, value);

    public static DbCommand With(this DbCommand command, string name, int? value) => command.With(name, DbType.Int32, value);

    public static DbCommand With(this DbCommand command, string name, long? value) => command.With(name, DbType.Int64, value);

    public static DbCommand With(this DbCommand command, string name, double? value) => command.With(name, DbType.Double, value);

    public static DbCommand With(this DbCommand command, string name, bool value) => command.With(name, DbType.Boolean, value);

    public static DbCommand With(this DbCommand command, string name, bool? value) => command.With(name, DbType.Boolean, value);

    /// <summary>A time, as the unix milliseconds every time column holds.</summary>
    public static DbCommand With(this DbCommand command, string name, DateTimeOffset? time) =>
        command.With(name, DbType.Int64, time is { } t ? StoreValues.ToMs(t) : null);

    /// <summary>Adds a parameter to be bound row by row, for a command executed many times in one transaction.</summary>
    public static DbParameter Parameter(this DbCommand command, string name, DbType type)
    {
        ArgumentNullException.ThrowIfNull(command);
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.DbType = type;
        command.Parameters.Add(parameter);
        return parameter;
    }

    private static DbCommand With(this DbCommand command, string name, DbType type, object? value)
    {
        command.Parameter(name, type).Value = value ?? DBNull.Value;
        return command;
    }
}
