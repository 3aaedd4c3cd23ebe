/* Placeholder translation unit for a module library with no sources yet. */
typedef int cn_empty_translation_unit;
