package io.tessera.sparse;

/** What {@link Patch#compose} does when patches set one entry to different values. */
public enum ConflictPolicy {
    /** Refuse, listing the conflicts. */
    ERROR,
    /** The value of the last patch (in the given order) that sets the entry. */
    LAST_WINS,
    /** The mean of the values of every patch that sets the entry, computed in float64, rounded to the dtype. */
    AVERAGE
}
