package io.sparkmp;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a public type that is not part of spark-mp's API: it is public only because another spark-mp package
 * uses it (Java has no narrower visibility across packages), and it may change or go away in any release without
 * notice. Do not use it from applications. The API is the set of public types without this mark; README's
 * "Public API" section lists them, and {@code PublicApiTest} keeps the two in step and checks that no API
 * signature exposes an internal type.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface Internal {
}
