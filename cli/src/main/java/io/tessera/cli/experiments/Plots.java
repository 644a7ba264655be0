package io.tessera.cli.experiments;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The experiments' plots (XChart), drawn headless into images. */
final class Plots {
    static {
        System.setProperty("java.awt.headless", "true"); // no display needed, on a server or in CI
    }

    private Plots() {}

    /** One fish run's accuracies (per seed, in [0, 1]) for an arm at a density given in percent. */
    record FishPoint(String arm, double densityPercent, double[] newClasses, double[] oldClasses) {}

    /**
     * Two panels: test accuracy on classes 5-9 and on 0-4 against the density (log scale), one line per
     * mask arm with mean ± std error bars, full fine-tuning (density 100%) as a dashed horizontal line.
     */
    static BufferedImage fish(List<FishPoint> points) {
        return beside(fishPanel(points, true), fishPanel(points, false));
    }

    private static BufferedImage fishPanel(List<FishPoint> points, boolean newClasses) {
        XYChart chart = new XYChartBuilder().width(640).height(480)
                .title(newClasses ? "Fine-tuned on classes 5-9: accuracy on 5-9" : "Forgetting: accuracy on classes 0-4")
                .xAxisTitle("parameters trained (% of all, log scale)").yAxisTitle("test accuracy (%)").build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setErrorBarsColorSeriesColor(true);
        Map<String, List<FishPoint>> byArm = new LinkedHashMap<>();
        points.forEach(p -> byArm.computeIfAbsent(p.arm(), a -> new java.util.ArrayList<>()).add(p));
        double lowest = points.stream().mapToDouble(FishPoint::densityPercent).min().orElseThrow();
        double highest = points.stream().filter(p -> p.densityPercent() < 100).mapToDouble(FishPoint::densityPercent).max().orElse(lowest);
        byArm.forEach((arm, list) -> {
            double[] x = list.stream().mapToDouble(FishPoint::densityPercent).toArray();
            double[] mean = list.stream().mapToDouble(p -> 100 * Report.mean(newClasses ? p.newClasses() : p.oldClasses())).toArray();
            double[] std = list.stream().mapToDouble(p -> 100 * Report.std(newClasses ? p.newClasses() : p.oldClasses())).toArray();
            if (x.length == 1 && x[0] >= 100) { // full fine-tuning: a line across the plotted densities
                XYSeries line = chart.addSeries(arm, new double[] {lowest / 1.5, highest * 1.5}, new double[] {mean[0], mean[0]});
                line.setMarker(SeriesMarkers.NONE);
                line.setLineStyle(SeriesLines.DASH_DASH);
                line.setLineColor(Color.BLACK);
            } else {
                chart.addSeries(arm, x, mean, std);
            }
        });
        return BitmapEncoder.getBufferedImage(chart);
    }

    /** One bar group per method: a value per metric (percent). */
    record Bars(String method, Map<String, Double> values) {}

    /** One grouped bar chart per titled panel, the panels one above the other. */
    static BufferedImage groupedBars(Map<String, List<Bars>> panels) {
        List<BufferedImage> images = new java.util.ArrayList<>();
        panels.forEach((title, bars) -> {
            CategoryChart chart = new CategoryChartBuilder().width(1100).height(420).title(title).yAxisTitle("test accuracy (%)").build();
            chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
            chart.getStyler().setYAxisMin(0.0);
            chart.getStyler().setYAxisMax(100.0);
            chart.getStyler().setXAxisLabelRotation(20);
            List<String> methods = bars.stream().map(Bars::method).toList();
            for (String metric : bars.get(0).values().keySet()) {
                chart.addSeries(metric, methods, bars.stream().map(b -> (Number) b.values().get(metric)).toList());
            }
            images.add(BitmapEncoder.getBufferedImage(chart));
        });
        return stacked(images);
    }

    private static BufferedImage beside(BufferedImage left, BufferedImage right) {
        BufferedImage out = new BufferedImage(left.getWidth() + right.getWidth(), Math.max(left.getHeight(), right.getHeight()),
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.drawImage(left, 0, 0, null);
        g.drawImage(right, left.getWidth(), 0, null);
        g.dispose();
        return out;
    }

    private static BufferedImage stacked(List<BufferedImage> images) {
        int width = images.stream().mapToInt(BufferedImage::getWidth).max().orElseThrow();
        BufferedImage out = new BufferedImage(width, images.stream().mapToInt(BufferedImage::getHeight).sum(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        int y = 0;
        for (BufferedImage image : images) {
            g.drawImage(image, 0, y, null);
            y += image.getHeight();
        }
        g.dispose();
        return out;
    }
}
