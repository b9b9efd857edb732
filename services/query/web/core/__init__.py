"""Pure helpers of the dashboard: number formatting and SVG chart geometry."""
